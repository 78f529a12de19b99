// Building page elements. Text always goes in as text nodes, never as
// HTML, so names from the network cannot inject markup.

// el returns a new element with attributes attrs (properties for "class",
// "hidden" and on* handlers) and children (nodes or strings).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// byId returns the element with that id.
export function byId(id) {
  return document.getElementById(id);
}

// say puts a message in a status line (an aria-live region); kind "error"
// styles it as an error.
export function say(node, text, kind = "") {
  node.textContent = text;
  node.classList.toggle("error", kind === "error");
}
