// Building DOM from data. Text (much of it from the network: client versions, addresses)
// only ever goes in through textContent or text nodes, never as HTML.

/**
 * A new element. props: `class`, `text` (textContent), `dataset` (object), `on<event>`
 * (listener), anything else as an attribute (true: present, false/null/undefined: absent).
 * Children: nodes or strings (appended as text nodes).
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of Array.isArray(children) ? children : [children]) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** The element with this id; a missing one is a bug in index.html, so it throws. */
export function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** Shows a number as text and exposes the raw value as data-value (for tests and scripts). */
export function showValue(el, value, text) {
  el.dataset.value = String(value);
  el.textContent = text;
}
