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
  /** The tree priority of its nodes: a hash of its arrival, so it is the same in every line. */
  readonly treePriority: number;
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

/** A well-mixed 30-bit number (it stays a small integer in V8) from a request's arrival order. */
export function treePriorityOf(arrival: number): number {
  let x = arrival | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x & 0x3fffffff;
}

interface LineNode {
  readonly item: QueueItem;
  left: LineNode | null;
  right: LineNode | null;
  /** Waiting slots in this subtree. */
  sum: number;
}

const sumOf = (node: LineNode | null): number => (node ? node.sum : 0);

/**
 * Requests in serving order, with the waiting slots ahead of any of them: a treap (a binary search tree
 * kept balanced by random node priorities, here a hash of the request's arrival) whose nodes carry the
 * number of waiting slots in their subtree. Insert, remove, a change of a request's slot count, the
 * first request and the slots ahead of a request each cost O(log n) expected, n the requests in the
 * line. One node (four fields) per request. In Redis terms it is a sorted set whose score is the serving
 * order (ZADD, ZREM, ZRANGE 0 0, ZRANK), with slot counts instead of member counts for the rank.
 */
export class ServingLine {
  private root: LineNode | null = null;
  private count = 0;
  /**
   * The request served first, remembered (null: not known since it left), so that a pop does not walk
   * down the line for it: a walk that misses the CPU cache at every node when pops come over HTTP.
   */
  private head: QueueItem | undefined | null = undefined;

  /** Builds a line from requests already in serving order, in O(n) (a Cartesian tree by tree priority). */
  static fromSorted(items: readonly QueueItem[]): ServingLine {
    const line = new ServingLine();
    const spine: LineNode[] = [];
    for (const item of items) {
      const node: LineNode = { item, left: null, right: null, sum: 0 };
      let last: LineNode | null = null;
      while (spine.length > 0 && spine[spine.length - 1].item.treePriority < item.treePriority) last = spine.pop() as LineNode;
      node.left = last;
      if (spine.length > 0) spine[spine.length - 1].right = node;
      spine.push(node);
    }
    line.root = spine.length > 0 ? spine[0] : null;
    line.count = items.length;
    line.head = items[0];
    fillSums(line.root);
    return line;
  }

  /** Requests in the line. */
  get size(): number {
    return this.count;
  }

  /** Waiting slots in the line. */
  get slots(): number {
    return sumOf(this.root);
  }

  /** The request served first, if any. */
  first(): QueueItem | undefined {
    if (this.head !== null) return this.head;
    let node = this.root;
    while (node?.left) node = node.left;
    this.head = node?.item;
    return this.head;
  }

  insert(item: QueueItem): void {
    this.root = insertNode(this.root, { item, left: null, right: null, sum: item.weight });
    this.count += 1;
    if (this.head !== null && (this.head === undefined || servedFirst(item, this.head) < 0)) this.head = item;
  }

  /** Takes the request out of line (one walk down); false when it was not in it. */
  remove(item: QueueItem): boolean {
    removed = false;
    this.root = removeNode(this.root, item);
    if (!removed) return false;
    this.count -= 1;
    if (item === this.head) this.head = null;
    return true;
  }

  /** Counts `delta` more waiting slots for a request in the line (call before changing `item.weight`). */
  addWeight(item: QueueItem, delta: number): void {
    let node = this.root;
    while (node) {
      node.sum += delta;
      if (node.item === item) return;
      node = servedFirst(item, node.item) < 0 ? node.left : node.right;
    }
    throw new Error('ServingLine.addWeight: the request is not in this line');
  }

  /** Waiting slots served before the request, or undefined when it is not in the line. */
  slotsAhead(item: QueueItem): number | undefined {
    let ahead = 0;
    let node = this.root;
    while (node) {
      if (node.item === item) return ahead + sumOf(node.left);
      if (servedFirst(item, node.item) < 0) node = node.left;
      else {
        ahead += sumOf(node.left) + node.item.weight;
        node = node.right;
      }
    }
    return undefined;
  }

  /** Visits every request in serving order. */
  forEach(visit: (item: QueueItem) => void): void {
    const stack: LineNode[] = [];
    let node = this.root;
    while (node || stack.length > 0) {
      while (node) {
        stack.push(node);
        node = node.left;
      }
      node = stack.pop() as LineNode;
      visit(node.item);
      node = node.right;
    }
  }
}

function fillSums(node: LineNode | null): number {
  if (!node) return 0;
  node.sum = fillSums(node.left) + fillSums(node.right) + node.item.weight;
  return node.sum;
}

function rotateRight(node: LineNode): LineNode {
  const left = node.left as LineNode;
  node.left = left.right;
  left.right = node;
  node.sum = sumOf(node.left) + sumOf(node.right) + node.item.weight;
  left.sum = sumOf(left.left) + node.sum + left.item.weight;
  return left;
}

function rotateLeft(node: LineNode): LineNode {
  const right = node.right as LineNode;
  node.right = right.left;
  right.left = node;
  node.sum = sumOf(node.left) + sumOf(node.right) + node.item.weight;
  right.sum = node.sum + sumOf(right.right) + right.item.weight;
  return right;
}

function insertNode(node: LineNode | null, added: LineNode): LineNode {
  if (!node) return added;
  node.sum += added.sum;
  if (servedFirst(added.item, node.item) < 0) {
    node.left = insertNode(node.left, added);
    return node.left.item.treePriority > node.item.treePriority ? rotateRight(node) : node;
  }
  node.right = insertNode(node.right, added);
  return node.right.item.treePriority > node.item.treePriority ? rotateLeft(node) : node;
}

/** Set by {@link removeNode}: whether it found the item. */
let removed = false;

/** Takes the item out of the subtree if it is there (then sets `removed`), fixing the sums on the way back up. */
function removeNode(node: LineNode | null, item: QueueItem): LineNode | null {
  if (!node) return null;
  if (node.item === item) {
    removed = true;
    return merge(node.left, node.right);
  }
  if (servedFirst(item, node.item) < 0) node.left = removeNode(node.left, item);
  else node.right = removeNode(node.right, item);
  if (removed) node.sum -= item.weight;
  return node;
}

/** Joins two subtrees, every request of `a` before every request of `b`. */
function merge(a: LineNode | null, b: LineNode | null): LineNode | null {
  if (!a) return b;
  if (!b) return a;
  if (a.item.treePriority > b.item.treePriority) {
    a.sum += b.sum;
    a.right = merge(a.right, b);
    return a;
  }
  b.sum += a.sum;
  b.left = merge(a, b.left);
  return b;
}
