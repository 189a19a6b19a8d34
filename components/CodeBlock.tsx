/** A copyable block of code; Preact escapes the text. */
export function CodeBlock(props: { code: string; label?: string }) {
  return (
    <figure class="code">
      {props.label && <figcaption>{props.label}</figcaption>}
      <pre><code>{props.code}</code></pre>
    </figure>
  );
}
