import { WaitingPrompt } from './waiting-prompt';

/**
 * A waiting request as the lines of {@link PromptQueue} see it: one per request, however many slots it
 * waits with (its slots are served one after the other, so they stand side by side in every line).
 */
export interface QueueItem {
  readonly prompt: WaitingPrompt;
  /**
   * Its waiting slots as the lines count them (every line's sums count this figure). The request's own
   * count may differ by a change {@link PromptQueue} has deferred (see `deferredIndex`).
   */
  weight: number;
  /**
   * The request's `priority` and `arrival`, copied here so that a walk down a line compares items without
   * reading the requests themselves: one memory access less per node, which counts when the lines are
   * out of the CPU cache between HTTP requests (a pop of a request with several slots walks every line
   * that holds it).
   */
  readonly priority: number;
  readonly arrival: number;
  /** Where it sits in its requester's list. */
  userIndex: number;
  /**
   * Where its change of slot count not yet told to the lines sits in {@link PromptQueue}'s list of
   * deferred counts, or -1 when the lines count its slots as they are.
   */
  deferredIndex: number;
}

/** Served first: higher priority, then the older request. Requests differ by arrival, so two items never tie. */
export function servedFirst(a: QueueItem, b: QueueItem): number {
  return b.priority - a.priority || a.arrival - b.arrival;
}

/** Entries (requests in a leaf, children in an inner node) a node holds at most; a fuller one is split in two. */
const MAX_ENTRIES = 32;
/** A node with fewer entries is merged with a neighbour when the two fit in one. */
const FEW_ENTRIES = MAX_ENTRIES / 4;
/** Entries per node when a line is built from requests already in order: room left for inserts. */
const BUILD_ENTRIES = 24;

/**
 * A node of a line: a leaf holds requests in serving order (their slots are their `weight`); an inner
 * node holds children in order with each child's slots and each child's last request (the way down).
 */
interface LineNode {
  /** Leaf: its requests, in serving order; inner node: null. */
  items: QueueItem[] | null;
  /** Inner node: its children, in order; leaf: null. */
  children: LineNode[] | null;
  /** Inner node: each child's last request; leaf: null. */
  lasts: QueueItem[] | null;
  /** Inner node: each child's waiting slots; leaf: null. */
  sums: number[] | null;
  /** Waiting slots under this node. */
  sum: number;
}

const leaf = (items: QueueItem[]): LineNode => ({ items, children: null, lasts: null, sums: null, sum: weightOf(items) });
const inner = (children: LineNode[]): LineNode => {
  const sums = children.map((child) => child.sum);
  return { items: null, children, lasts: children.map(lastOf), sums, sum: total(sums) };
};
const entries = (node: LineNode): number => (node.items ?? (node.children as LineNode[])).length;

/** The path of the last search, root first: nodes and the entry taken in each (module scratch, reused). */
const pathNodes: LineNode[] = [];
const pathAt: number[] = [];
let pathDepth = 0;

/**
 * Requests in serving order, with the waiting slots ahead of any of them: a B+ tree whose leaves hold up
 * to 32 requests with their slot counts and whose inner nodes hold each child's slot count. Insert,
 * remove, a change of a request's slot count and the slots ahead of a request each cost O(log n)
 * (one path down, a binary search per node); the first request is remembered. A few arrays per 32
 * requests instead of one tree node per request: fewer objects for the garbage collector to mark and
 * fewer cache misses per walk. In Redis terms it is a sorted set whose score is the serving order (ZADD,
 * ZREM, ZRANGE 0 0, ZRANK), with slot counts instead of member counts for the rank.
 */
export class ServingLine {
  private root: LineNode | null = null;
  private count = 0;
  /**
   * The request served first, remembered (null: not known since it left), so that a pop does not walk
   * down the line for it: a walk that misses the CPU cache at every node when pops come over HTTP.
   */
  private head: QueueItem | undefined | null = undefined;

  /** Builds a line from requests already in serving order, in O(n). */
  static fromSorted(items: readonly QueueItem[]): ServingLine {
    const line = new ServingLine();
    if (items.length === 0) return line;
    let level: LineNode[] = [];
    for (let i = 0; i < items.length; i += BUILD_ENTRIES) {
      level.push(leaf(items.slice(i, i + BUILD_ENTRIES)));
    }
    while (level.length > 1) {
      const up: LineNode[] = [];
      for (let i = 0; i < level.length; i += BUILD_ENTRIES) up.push(inner(level.slice(i, i + BUILD_ENTRIES)));
      level = up;
    }
    line.root = level[0];
    line.count = items.length;
    line.head = items[0];
    return line;
  }

  /** Requests in the line. */
  get size(): number {
    return this.count;
  }

  /** Waiting slots in the line. */
  get slots(): number {
    return this.root ? this.root.sum : 0;
  }

  /** The request served first, if any. */
  first(): QueueItem | undefined {
    if (this.head !== null) return this.head;
    let node = this.root;
    while (node?.children) node = node.children[0];
    this.head = node ? (node.items as QueueItem[])[0] : undefined;
    return this.head;
  }

  insert(item: QueueItem): void {
    const weight = item.weight;
    if (!this.root) this.root = leaf([item]);
    else {
      const sibling = insertInto(this.root, item, weight);
      if (sibling) this.root = inner([this.root, sibling]);
    }
    this.count += 1;
    if (this.head !== null && (this.head === undefined || servedFirst(item, this.head) < 0)) this.head = item;
  }

  /** Takes the request out of line; false when it was not in it. */
  remove(item: QueueItem): boolean {
    if (!this.find(item)) return false;
    const weight = item.weight;
    const bottom = pathDepth - 1;
    for (let d = 0; d < bottom; d++) {
      pathNodes[d].sum -= weight;
      (pathNodes[d].sums as number[])[pathAt[d]] -= weight;
    }
    const found = pathNodes[bottom];
    found.sum -= weight;
    removeAt(found.items as QueueItem[], pathAt[bottom]);
    // Back up: drop emptied nodes, merge small ones with a neighbour, keep each child's last request.
    for (let d = bottom - 1; d >= 0; d--) {
      const parent = pathNodes[d];
      const at = pathAt[d];
      const child = pathNodes[d + 1];
      const children = parent.children as LineNode[];
      const lasts = parent.lasts as QueueItem[];
      if (entries(child) === 0) {
        removeAt(children, at);
        removeAt(lasts, at);
        removeAt(parent.sums as number[], at);
        continue;
      }
      lasts[at] = lastOf(child);
      if (entries(child) < FEW_ENTRIES) mergeSmall(parent, at);
    }
    let root = this.root as LineNode;
    while (root.children && root.children.length === 1) root = root.children[0];
    this.root = entries(root) === 0 ? null : root;
    this.count -= 1;
    if (item === this.head) this.head = null;
    return true;
  }

  /** Counts `delta` more waiting slots for a request in the line (call before changing `item.weight`). */
  addWeight(item: QueueItem, delta: number): void {
    if (!this.find(item)) throw new Error('ServingLine.addWeight: the request is not in this line');
    for (let d = 0; d < pathDepth - 1; d++) {
      pathNodes[d].sum += delta;
      (pathNodes[d].sums as number[])[pathAt[d]] += delta;
    }
    pathNodes[pathDepth - 1].sum += delta;
  }

  /** Waiting slots served before the request, or undefined when it is not in the line. */
  slotsAhead(item: QueueItem): number | undefined {
    if (!this.find(item)) return undefined;
    let ahead = 0;
    for (let d = 0; d < pathDepth - 1; d++) {
      const sums = pathNodes[d].sums as number[];
      for (let i = pathAt[d] - 1; i >= 0; i--) ahead += sums[i];
    }
    const items = pathNodes[pathDepth - 1].items as QueueItem[];
    for (let i = pathAt[pathDepth - 1] - 1; i >= 0; i--) ahead += items[i].weight;
    return ahead;
  }

  /** Visits every request in serving order. */
  forEach(visit: (item: QueueItem) => void): void {
    if (this.root) visitAll(this.root, visit);
  }

  /** Walks down to the request, recording the path; false when it is not in the line. */
  private find(item: QueueItem): boolean {
    pathDepth = 0;
    let node = this.root;
    while (node) {
      pathNodes[pathDepth] = node;
      if (node.children) {
        const at = firstNotBefore(node.lasts as QueueItem[], item);
        if (at === node.children.length) return false;
        pathAt[pathDepth++] = at;
        node = node.children[at];
      } else {
        const items = node.items as QueueItem[];
        const at = firstNotBefore(items, item);
        pathAt[pathDepth++] = at;
        return items[at] === item;
      }
    }
    return false;
  }
}

function total(sums: readonly number[]): number {
  let sum = 0;
  for (const s of sums) sum += s;
  return sum;
}

function weightOf(items: readonly QueueItem[]): number {
  let sum = 0;
  for (const item of items) sum += item.weight;
  return sum;
}

function lastOf(node: LineNode): QueueItem {
  const list = (node.items ?? node.lasts) as QueueItem[];
  return list[list.length - 1];
}

/** The first position whose request is not served before `item` (binary search); `list.length` if none. */
function firstNotBefore(list: readonly QueueItem[], item: QueueItem): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (servedFirst(list[mid], item) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

function insertAt<T>(list: T[], at: number, value: T): void {
  list.push(value);
  for (let i = list.length - 1; i > at; i--) list[i] = list[i - 1];
  list[at] = value;
}

function removeAt<T>(list: T[], at: number): void {
  for (let i = at; i < list.length - 1; i++) list[i] = list[i + 1];
  list.pop();
}

/** Inserts into the subtree; returns the new right sibling when the node had to be split. */
function insertInto(node: LineNode, item: QueueItem, weight: number): LineNode | null {
  node.sum += weight;
  if (node.items) {
    const at = firstNotBefore(node.items, item);
    insertAt(node.items, at, item);
    return node.items.length > MAX_ENTRIES ? split(node, at === MAX_ENTRIES) : null;
  }
  const children = node.children as LineNode[];
  const lasts = node.lasts as QueueItem[];
  const sums = node.sums as number[];
  const at = Math.min(firstNotBefore(lasts, item), children.length - 1);
  const child = children[at];
  sums[at] += weight;
  const sibling = insertInto(child, item, weight);
  lasts[at] = lastOf(child);
  if (!sibling) return null;
  sums[at] = child.sum;
  insertAt(children, at + 1, sibling);
  insertAt(lasts, at + 1, lastOf(sibling));
  insertAt(sums, at + 1, sibling.sum);
  return children.length > MAX_ENTRIES ? split(node, at + 1 === MAX_ENTRIES) : null;
}

/**
 * Moves entries of an overfull node into a new node, which it returns: half of them, or only the last
 * one when that is the one just added at the end (requests mostly join at the end of a line, so its
 * nodes stay full instead of half empty).
 */
function split(node: LineNode, atEnd: boolean): LineNode {
  const keep = atEnd ? MAX_ENTRIES : entries(node) >>> 1;
  if (node.items) {
    const moved = node.items.splice(keep);
    const sibling = leaf(moved);
    node.sum -= sibling.sum;
    return sibling;
  }
  const sums = (node.sums as number[]).splice(keep);
  const sibling: LineNode = { items: null, children: (node.children as LineNode[]).splice(keep), lasts: (node.lasts as QueueItem[]).splice(keep), sums, sum: total(sums) };
  node.sum -= sibling.sum;
  return sibling;
}

/** Merges the parent's child at `at`, which has few entries, with a neighbour when both fit in one node. */
function mergeSmall(parent: LineNode, at: number): void {
  const children = parent.children as LineNode[];
  const left = at > 0 ? at - 1 : at;
  if (left + 1 >= children.length) return;
  const a = children[left];
  const b = children[left + 1];
  if (entries(a) + entries(b) > MAX_ENTRIES) return;
  if (a.items) a.items.push(...(b.items as QueueItem[]));
  else {
    (a.children as LineNode[]).push(...(b.children as LineNode[]));
    (a.lasts as QueueItem[]).push(...(b.lasts as QueueItem[]));
    (a.sums as number[]).push(...(b.sums as number[]));
  }
  a.sum += b.sum;
  (parent.sums as number[])[left] = a.sum;
  (parent.lasts as QueueItem[])[left] = lastOf(a);
  removeAt(children, left + 1);
  removeAt(parent.lasts as QueueItem[], left + 1);
  removeAt(parent.sums as number[], left + 1);
}

function visitAll(node: LineNode, visit: (item: QueueItem) => void): void {
  if (node.items) {
    for (const item of node.items) visit(item);
    return;
  }
  for (const child of node.children as LineNode[]) visitAll(child, visit);
}
