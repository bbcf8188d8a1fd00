// Groups the jobs a stage has in flight into batches for a cluster executor: a batch
// leaves when it holds `size` jobs, or when no job joined it for `lingerMs` (the
// stage's last, smaller batch; a retried datum). Per-job start-up on the engine is
// then paid once per batch, as Pachyderm's datum batching does.
export class Batcher<T> {
  private readonly open = new Map<string, { items: T[]; timer: NodeJS.Timeout | null }>();

  constructor(private readonly send: (group: string, items: T[]) => void, private readonly lingerMs = 30) {}

  add(group: string, size: number, item: T): void {
    let b = this.open.get(group);
    if (!b) this.open.set(group, (b = { items: [], timer: null }));
    b.items.push(item);
    if (b.timer) clearTimeout(b.timer);
    b.timer = null;
    if (b.items.length >= size) this.flush(group);
    else b.timer = setTimeout(() => this.flush(group), this.lingerMs);
  }

  /** Takes items out before they were sent (a cancelled job); true when it was waiting. */
  remove(group: string, item: T): boolean {
    const b = this.open.get(group);
    const i = b ? b.items.indexOf(item) : -1;
    if (i < 0) return false;
    b!.items.splice(i, 1);
    return true;
  }

  private flush(group: string): void {
    const b = this.open.get(group);
    if (!b) return;
    if (b.timer) clearTimeout(b.timer);
    this.open.delete(group);
    if (b.items.length) this.send(group, b.items);
  }
}
