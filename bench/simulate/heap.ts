/** A binary min-heap of timed events; ties broken by insertion order, so a run is the same every time. */
export class EventHeap<T> {
  private t: number[] = [];
  private seq: number[] = [];
  private items: T[] = [];
  private n = 0;

  get size(): number {
    return this.items.length;
  }

  push(time: number, item: T): void {
    this.t.push(time);
    this.seq.push(this.n++);
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  /** The earliest event's time; Infinity when empty. */
  peekTime(): number {
    return this.items.length ? this.t[0]! : Infinity;
  }

  pop(): T | undefined {
    if (!this.items.length) return undefined;
    const top = this.items[0]!;
    const last = this.items.length - 1;
    this.swap(0, last);
    this.t.pop(); this.seq.pop(); this.items.pop();
    if (this.items.length) this.down(0);
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.t[a]! < this.t[b]! || (this.t[a] === this.t[b] && this.seq[a]! < this.seq[b]!);
  }

  private swap(a: number, b: number): void {
    [this.t[a], this.t[b]] = [this.t[b]!, this.t[a]!];
    [this.seq[a], this.seq[b]] = [this.seq[b]!, this.seq[a]!];
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
