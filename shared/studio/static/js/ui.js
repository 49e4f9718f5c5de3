// Small DOM helpers shared by every page: elements, dialogs, toasts, progress, errors in plain words.

// h("button", {class: "primary", onclick: f}, "Save") -> <button class="primary">Save</button>
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;
// A labelled field: field("Name", h("input", {...}), "hint") -> <div class=field><label for=...>...
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldCounter}`;
  const hintEl = hint ? h("div", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind === "error" ? "error" : ""}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// The notice for a failed call: the message in words, the API's code in small print.
export function errorNotice(err) {
  return h("div", { class: "notice error", role: "alert" }, err.message || String(err), err.code ? h("span", { class: "code" }, err.code) : null);
}

// A modal dialog. body: nodes; actions: [{label, kind, onclick(dialog) -> false keeps it open}].
export function openDialog({ title, body, actions = [], wide = false, onclose }) {
  const titleId = `d${++fieldCounter}`;
  const dialog = h("dialog", { class: wide ? "wide" : "", "aria-labelledby": titleId });
  const close = h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: () => dialog.close() }, "✕");
  const actionBar = h("div", { class: "dialog-actions" });
  for (const action of actions) {
    const button = h("button", { type: "button", class: action.kind || "" }, action.label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const keep = await action.onclick?.(dialog);
        if (keep !== false) dialog.close();
      } finally {
        button.disabled = false;
      }
    });
    actionBar.append(button);
  }
  dialog.append(
    h("div", { class: "dialog-head" }, h("h2", { id: titleId }, title), close),
    h("div", { class: "dialog-body" }, body),
    actions.length ? actionBar : null,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    onclose?.();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export function confirmDialog({ title, message, confirm = "Delete", danger = true }) {
  return new Promise((resolve) => {
    let answer = false;
    openDialog({
      title,
      body: h("p", {}, message),
      actions: [
        { label: "Cancel" },
        { label: confirm, kind: danger ? "danger solid" : "primary", onclick: () => { answer = true; } },
      ],
      onclose: () => resolve(answer),
    });
  });
}

export function progressBar(label) {
  const fill = h("span");
  const bar = h("div", { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, fill);
  bar.set = (fraction) => {
    const percent = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    fill.style.width = `${percent}%`;
    bar.setAttribute("aria-valuenow", String(percent));
  };
  return bar;
}

export function percent(value, digits = 1) {
  return value === undefined || value === null || Number.isNaN(value) ? "–" : `${(value * 100).toFixed(digits)}%`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied.`);
  } catch {
    toast(`Select the ${what.toLowerCase()} and copy it with Ctrl+C.`);
  }
}

// A read-only field with a Copy button.
export function copyField(label, value, { secret = false } = {}) {
  const input = h("input", { type: secret ? "password" : "text", readonly: true, value });
  const wrap = field(label, h("div", { class: "copy-field" }, input, h("button", { type: "button", onclick: () => copyText(value, label) }, "Copy")));
  // field() labelled the wrapper's first control; point the label at the input itself.
  wrap.querySelector("label").htmlFor = input.id = `${wrap.querySelector("label").htmlFor}-input`;
  return wrap;
}

export const TAG_COLORS = ["#2f5bd3", "#d9480f", "#2b8a3e", "#ae3ec9", "#c2255c", "#0b7285", "#5f3dc4", "#a61e4d", "#e67700", "#1864ab"];
export function tagColor(index) {
  return TAG_COLORS[((index % TAG_COLORS.length) + TAG_COLORS.length) % TAG_COLORS.length];
}
