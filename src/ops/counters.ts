/** Opt-in op statistics: the model's FLOP count walks one forward with countMacs on. */
export const opCounters = {
  countMacs: false,
  /** multiply-accumulates of conv, conv-transpose and linear since the counter was reset */
  macs: 0,
};

/** Runs fn and returns the conv/linear MACs its forward ops performed. */
export function countMacs(fn: () => void): number {
  const previous = { countMacs: opCounters.countMacs, macs: opCounters.macs };
  opCounters.countMacs = true;
  opCounters.macs = 0;
  try {
    fn();
    return opCounters.macs;
  } finally {
    opCounters.countMacs = previous.countMacs;
    opCounters.macs = previous.macs;
  }
}
