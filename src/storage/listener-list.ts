// The subscribers of one storage event, in the order they subscribed. A hook held in a single field
// is overwritten silently by a second subscriber (a mirror and a consumer-group coordinator both want
// to hear about retention); a list cannot be, and each subscriber can take itself off again.

export class ListenerList<F> {
  // Replaced, never changed in place: a listener that unsubscribes (or subscribes another) while the
  // list is being called neither skips nor adds a call in that round.
  private items: readonly F[] = [];

  /** Returns the unsubscribe; calling it again does nothing. */
  add(listener: F): () => void {
    this.items = [...this.items, listener];
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const i = this.items.indexOf(listener);
      this.items = [...this.items.slice(0, i), ...this.items.slice(i + 1)];
    };
  }

  get all(): readonly F[] {
    return this.items;
  }
}
