/**
 * Change detection between two payloads. A payload is flattened into leaves keyed by dot path
 * (`user.traits.plan`); arrays are leaves compared by JSON equality, because pages care about
 * "the segment list changed", not about array indices. Pure: no browser globals.
 */

/** Changed leaves: `{ "user.plan": [old, new] }`; removed is `[old, undefined]`, added `[undefined, new]`. */
export type Changes = Record<string, [unknown, unknown]>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Leaves of `value` by dot path. Arrays, `null` and primitives are leaves; an empty object has
 * no leaves (so `{}` → `{ a: 1 }` reports only `a`).
 */
export function flatten(
  value: unknown,
  prefix = "",
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (isObject(value)) {
    for (const key of Object.keys(value)) {
      flatten(value[key], prefix ? prefix + "." + key : key, out);
    }
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/** Every leaf that differs between `before` and `after` (either may be undefined). */
export function diff(before: unknown, after: unknown): Changes {
  const a = flatten(before);
  const b = flatten(after);
  const changes: Changes = {};
  for (const key of Object.keys({ ...a, ...b })) {
    // JSON equality: payloads come from JSON, and arrays/objects inside arrays compare by content.
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) changes[key] = [a[key], b[key]];
  }
  return changes;
}
