import type { ComponentChildren } from "preact";

/** A highlighted message: "warn" for something the operator must fix, "ok" otherwise. */
export function Notice(props: { kind: "warn" | "ok"; children: ComponentChildren }) {
  return <div class={`notice notice-${props.kind}`} role="status">{props.children}</div>;
}
