/** A set of integers kept in ascending order (shard indexes in dispatch order): binary search, splice. */
export class SortedInts {
  readonly items: number[] = [];

  private find(x: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.find(x);
    return this.items[i] === x;
  }

  add(x: number): void {
    const i = this.find(x);
    if (this.items[i] !== x) this.items.splice(i, 0, x);
  }

  delete(x: number): void {
    const i = this.find(x);
    if (this.items[i] === x) this.items.splice(i, 1);
  }

  get size(): number {
    return this.items.length;
  }
}
