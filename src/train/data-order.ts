/**
 * The order in which a trainer visits its training problems: a fresh seeded permutation every epoch.
 * The whole state is (epoch, position), so a resumed run visits exactly the problems an uninterrupted
 * run would.
 */
import { Rng } from '../util/rng.js';

export interface DataOrderState {
  epoch: number;
  position: number;
}

export class DataOrder {
  private readonly size: number;
  private readonly seed: number;
  private epoch = 0;
  private position = 0;
  private permutation: number[];

  constructor(size: number, seed: number, state?: DataOrderState) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`DataOrder: size must be a positive integer, got ${size}`);
    this.size = size;
    this.seed = seed;
    if (state) {
      this.epoch = state.epoch;
      this.position = state.position;
    }
    this.permutation = this.permutationOf(this.epoch);
  }

  /** The next `count` problem indices, wrapping into a new epoch (and a new permutation) as needed. */
  next(count: number): number[] {
    const out: number[] = [];
    while (out.length < count) {
      if (this.position === this.size) {
        this.epoch++;
        this.position = 0;
        this.permutation = this.permutationOf(this.epoch);
      }
      out.push(this.permutation[this.position++]);
    }
    return out;
  }

  state(): DataOrderState {
    return { epoch: this.epoch, position: this.position };
  }

  private permutationOf(epoch: number): number[] {
    const rng = new Rng((this.seed * 1_000_003 + epoch * 7919 + 17) >>> 0);
    return rng.shuffle(Array.from({ length: this.size }, (_, i) => i));
  }
}
