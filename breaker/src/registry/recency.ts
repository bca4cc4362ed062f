/** The links an item of a RecencyList carries itself: no wrapper object per item. */
export interface RecencyLinks<T> {
  older: T | undefined;
  newer: T | undefined;
  /** whether it is in a list now */
  listed: boolean;
}

/**
 * Items from the least to the most recently used, as a doubly linked list: touching, removing and
 * finding the oldest are O(1). (A Map's insertion order, re-inserted on use, is not: V8 leaves a
 * hole for each deleted entry, and every walk from the oldest skips them until the next rehash.)
 */
export class RecencyList<T extends RecencyLinks<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** the least recently used item */
  get oldest(): T | undefined {
    return this.head;
  }

  /** Makes `item` the most recently used, adding it when it is not listed. */
  touch(item: T): void {
    if (item.listed) {
      if (item === this.tail) return;
      this.remove(item);
    }
    item.older = this.tail;
    item.newer = undefined;
    item.listed = true;
    if (this.tail === undefined) this.head = item;
    else this.tail.newer = item;
    this.tail = item;
    this.count += 1;
  }

  /** Takes `item` out of the list; nothing when it is not listed. */
  remove(item: T): void {
    if (!item.listed) return;
    if (item.older === undefined) this.head = item.newer;
    else item.older.newer = item.newer;
    if (item.newer === undefined) this.tail = item.older;
    else item.newer.older = item.older;
    item.older = undefined;
    item.newer = undefined;
    item.listed = false;
    this.count -= 1;
  }

  /** The items, least recently used first. */
  *fromOldest(): IterableIterator<T> {
    for (let item = this.head; item !== undefined; item = item.newer) yield item;
  }
}
