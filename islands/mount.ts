/**
 * Browser entry of the islands (bundled to `static/build/islands.js`): hydrates every
 * `[data-island]` element the server rendered, with the props it serialized in `data-props`,
 * and adds copy buttons to code blocks (dashboard and public pages).
 */
import { h, hydrate } from "preact";
import LiveLog from "./LiveLog.tsx";
import LiveStats from "./LiveStats.tsx";
import { addCopyButtons } from "./copy_buttons.ts";

// deno-lint-ignore no-explicit-any
const ISLANDS: Record<string, (props: any) => preact.JSX.Element> = { LiveLog, LiveStats };

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const component = ISLANDS[el.dataset.island ?? ""];
  if (!component) continue;
  hydrate(h(component, JSON.parse(el.dataset.props ?? "{}")), el);
}

addCopyButtons();
