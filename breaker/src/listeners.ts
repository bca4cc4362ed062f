/** A list of listeners for one kind of event. Emitting works on a copy, so a listener may unsubscribe itself. */
export class Listeners<T> {
  private list: ((event: T) => void)[] = [];

  get size(): number {
    return this.list.length;
  }

  /** Adds a listener; returns the function that removes it. */
  add(listener: (event: T) => void): () => void {
    this.list = [...this.list, listener];
    let added = true;
    return () => {
      if (!added) return;
      added = false;
      const index = this.list.indexOf(listener);
      if (index >= 0) this.list = [...this.list.slice(0, index), ...this.list.slice(index + 1)];
    };
  }

  emit(event: T): void {
    // the array is replaced, never mutated, on add and remove: iterating the current one is safe
    for (const listener of this.list) listener(event);
  }
}
