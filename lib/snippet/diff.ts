/**
 * Change detection between two payloads, shaped as the original connector's `changes` (its
 * `src/lib/diff.js`, which its readme documents): nested like the payload, each changed leaf
 * `[previous, current]`: `{ user: { plan: ["free", "pro"] }, account: { "clearbit/employees":
 * [10, 50] } }`. As there, a key whose previous value was no object (absent included) is a leaf:
 * the first payload gives `{ user: [undefined, {…}], … }`. Two departures: arrays are leaves
 * (`segments: [["A"], ["A", "B"]]`, where lodash diffed them index by index into sparse arrays),
 * and a removed key is reported (`[previous, undefined]`; the original saw no change). Pure.
 */

/** Nested changes: a branch per changed object, `[previous, current]` at each changed leaf. */
export interface Changes {
  [key: string]: Changes | [unknown, unknown];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON equality: payloads come from JSON, so key order aside this is deep equality. */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What differs from `before` to `after` (either may be undefined); `{}` when nothing. */
export function diff(before: unknown, after: unknown): Changes {
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  const changes: Changes = {};
  for (const key of Object.keys({ ...a, ...b })) {
    if (isObject(a[key]) && isObject(b[key])) {
      const inner = diff(a[key], b[key]);
      // Objects equal but for key order give no branch.
      if (Object.keys(inner).length) changes[key] = inner;
    } else if (!same(a[key], b[key])) {
      changes[key] = [a[key], b[key]];
    }
  }
  return changes;
}
