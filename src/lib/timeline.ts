/** Where each snapshot sits along the time line, in percent of its width. */

const START = 4;
const WIDTH = 92;
/** Dots closer than this (percent of the line) would hide one another. */
export const MIN_GAP = 3;

/**
 * By time taken, from 4 % to 96 %; snapshots taken at one moment or seconds apart are spread in
 * their order so that every one stays a dot of its own. A single snapshot sits in the middle.
 */
export function timelinePlaces(times: number[]): number[] {
  if (times.length === 1) return [50];
  const first = Math.min(...times);
  const span = Math.max(...times) - first;
  const order = times.map((_, i) => i).sort((a, b) => times[a] - times[b] || a - b);
  const places = new Array<number>(times.length);
  let previous = -Infinity;
  for (const i of order) {
    const wanted = span > 0 ? START + ((times[i] - first) / span) * WIDTH : START;
    places[i] = Math.max(wanted, previous + MIN_GAP);
    previous = places[i];
  }
  // Pushed past the end: move the crowded tail back, keeping the gaps.
  let limit = START + WIDTH;
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k];
    places[i] = Math.min(places[i], limit);
    limit = places[i] - MIN_GAP;
  }
  if (span === 0) {
    // All at one moment: centre the group.
    const shift = 50 - (places[order[0]] + places[order.at(-1)!]) / 2;
    for (const i of order) places[i] += shift;
  }
  return places;
}
