import { RecencyList, type RecencyLinks } from '../../src/registry/recency';

interface Item extends RecencyLinks<Item> {
  readonly name: string;
}

const item = (name: string): Item => ({ name, older: undefined, newer: undefined, listed: false });
const names = (list: RecencyList<Item>) => [...list.fromOldest()].map((listed) => listed.name);

describe('recency list', () => {
  it('keeps items from the least to the most recently touched', () => {
    const list = new RecencyList<Item>();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    list.touch(a);
    list.touch(b);
    list.touch(c);
    expect(names(list)).toEqual(['a', 'b', 'c']);
    list.touch(a);
    expect(names(list)).toEqual(['b', 'c', 'a']);
    list.touch(a);
    expect(names(list)).toEqual(['b', 'c', 'a']);
    expect(list.oldest).toBe(b);
    expect(list.size).toBe(3);
  });

  it('removes from the head, the middle and the tail; removing an unlisted item changes nothing', () => {
    const list = new RecencyList<Item>();
    const items = ['a', 'b', 'c', 'd'].map(item);
    for (const each of items) list.touch(each);
    list.remove(items[1]!);
    expect(names(list)).toEqual(['a', 'c', 'd']);
    list.remove(items[0]!);
    expect(names(list)).toEqual(['c', 'd']);
    list.remove(items[3]!);
    expect(names(list)).toEqual(['c']);
    list.remove(items[3]!);
    expect(list.size).toBe(1);
    list.remove(items[2]!);
    expect(names(list)).toEqual([]);
    expect(list.oldest).toBeUndefined();
    list.touch(items[1]!);
    expect(names(list)).toEqual(['b']);
    expect(items[1]).toMatchObject({ listed: true, older: undefined, newer: undefined });
  });
});
