/**
 * Copy buttons on code blocks (`figure.code`, `pre.json`): added by script, so a page without
 * JavaScript shows no button that could not work. No inline handler: the pages' CSP forbids
 * inline script. Where the clipboard is refused (an insecure origin), the code is selected
 * instead, for the visitor to copy with the keyboard.
 */

/** Adds a "Copy" button after every code block under `root`. */
export function addCopyButtons(root: ParentNode = document): void {
  for (const pre of root.querySelectorAll<HTMLPreElement>("figure.code pre, pre.json")) {
    if (pre.dataset.copy) continue;
    pre.dataset.copy = "1";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy secondary";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy this code");
    button.addEventListener("click", () => copy(pre, button));
    pre.insertAdjacentElement("afterend", button);
  }
}

async function copy(pre: HTMLPreElement, button: HTMLButtonElement): Promise<void> {
  const text = pre.textContent ?? "";
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(pre);
    const selection = getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
}
