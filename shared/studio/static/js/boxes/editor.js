// A box editor over one image, drawn on a canvas. It owns no data: it keeps the boxes it shows and emits
// events ("boxcreated", "boxchanged", "boxdeleted", "selectionchange", "proposalaccepted",
// "proposalrejected"; detail = a copy of the box) that the page turns into API calls.
//
// An explicit mode state machine drives the pointer: idle -> drawing | moving | resizing | panning -> idle.
// Every conversion between screen, image pixels and Custom Vision's normalised boxes goes through
// ./geometry.js (the one tested conversion).
import { clampBox, fromCorners, toPixels } from "./geometry.js";
import { h, tagColor } from "../ui.js";

const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const CURSORS = { nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize", n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize" };
const MIN_DRAW_PX = 5; // a smaller drag is a click, not a box
const MAX_ZOOM = 8;
const PROPOSAL_COLOR = "#f0b400";
let serial = 0;
const nextKey = (prefix) => `${prefix}${++serial}`;

function copy(box) {
  const out = { key: box.key, tagId: box.tagId ?? null, left: box.left, top: box.top, width: box.width, height: box.height };
  if (box.id !== undefined) out.id = box.id;
  if (box.probability !== undefined) out.probability = box.probability;
  return out;
}

const same = (a, b) => ["left", "top", "width", "height"].every((k) => Math.abs(a[k] - b[k]) < 1e-9);

export class BoxEditor extends EventTarget {
  constructor(container, { imageUrl, tags = [], boxes = [], readOnly = false, activeTagId = null, label = "Image" } = {}) {
    super();
    this.container = container;
    this.readOnly = readOnly;
    this.label = label;
    this.tags = tags;
    this.activeTagId = activeTagId;
    this._boxes = boxes.map((b) => this._own(b, "b"));
    this._proposals = [];
    this.selectedKey = null;
    this.mode = "idle"; // idle | drawing | moving | resizing | panning
    this.drag = null;
    this.armed = false; // N was pressed: the next drag draws even over a box
    this.spaceHeld = false;
    this.hovering = false;
    this.zoom = 1;
    this.view = { fit: 1, offX: 0, offY: 0, cssW: 0, cssH: 0 };
    this.natural = { width: 0, height: 0 };
    this.loaded = false;

    const describedBy = nextKey("box-desc-");
    this.canvas = h("canvas", {
      role: readOnly ? "img" : "application",
      "aria-label": label,
      "aria-roledescription": readOnly ? null : "box editor",
      "aria-describedby": describedBy,
      tabindex: readOnly ? null : "0",
    });
    this.description = h("p", { class: "visually-hidden", id: describedBy, "aria-live": readOnly ? null : "polite" });
    this.acceptButton = h("button", { type: "button", class: "primary", onclick: () => this.acceptProposal(this._selectedProposal()?.id) }, "Accept");
    this.rejectButton = h("button", { type: "button", onclick: () => this.rejectProposal(this._selectedProposal()?.id) }, "Reject");
    this.actions = h("div", { class: "proposal-actions", hidden: true }, this.acceptButton, this.rejectButton);
    this.stage = h("div", { class: `stage box-stage${readOnly ? " readonly" : ""}` }, this.canvas, this.actions, this.description);
    container.append(this.stage);

    this.image = new Image();
    this.ready = new Promise((resolve) => {
      this.image.onload = () => {
        this.natural = { width: this.image.naturalWidth, height: this.image.naturalHeight };
        this.loaded = true;
        this._layout();
        resolve(true);
      };
      // No rejection: a missing image is drawn as a message, and callers need not catch.
      this.image.onerror = () => {
        this.failed = true;
        this._layout();
        resolve(false);
      };
    });
    this.image.src = imageUrl;

    this._listen();
    this._describe();
    this._layout();
  }

  // ---- the public interface ----
  get boxes() {
    return this._boxes.map(copy);
  }

  get selected() {
    const box = this._boxes.find((b) => b.key === this.selectedKey);
    return box ? copy(box) : null;
  }

  setBoxes(boxes) {
    this._cancelDrag();
    this._boxes = boxes.map((b) => this._own(b, "b"));
    if (this.selectedKey && !this._find(this.selectedKey)) this._select(null);
    this._changed();
  }

  setProposals(proposals) {
    this._proposals = (proposals || []).map((p) => ({ ...this._own(p, "p"), id: p.id ?? nextKey("proposal-") }));
    if (this.selectedKey && !this._find(this.selectedKey)) this._select(null);
    this._changed();
  }

  setActiveTag(tagId) {
    this.activeTagId = tagId;
  }

  setTags(tags) {
    this.tags = tags;
    this._changed();
  }

  // A box from outside (an accepted suggestion, an undo): added and announced like a drawn one.
  addBox(box) {
    const own = this._own({ tagId: this.activeTagId, ...box }, "b");
    Object.assign(own, clampBox(own));
    this._boxes.push(own);
    this._select(own.key);
    this._emit("boxcreated", own);
    this._changed();
    return copy(own);
  }

  updateBox(key, changes) {
    const box = this._boxes.find((b) => b.key === key);
    if (!box) return null;
    const previous = copy(box);
    Object.assign(box, changes, clampBox({ ...box, ...changes }));
    this._emit("boxchanged", box, previous);
    this._changed();
    return copy(box);
  }

  removeBox(key) {
    const index = this._boxes.findIndex((b) => b.key === key);
    if (index < 0) return;
    const [box] = this._boxes.splice(index, 1);
    if (this.selectedKey === key) this._select(null);
    this._emit("boxdeleted", box);
    this._changed();
  }

  select(key) {
    this._select(key);
    this._changed();
  }

  selectProposal(id) {
    const proposal = this._proposals.find((p) => p.id === id);
    if (proposal) this.select(proposal.key);
  }

  startDrawing() {
    if (this.readOnly) return;
    this.armed = true;
    this.canvas.focus();
    this._changed();
  }

  // Escape: a drag is undone; otherwise "new box" is disarmed, otherwise the selection cleared.
  cancel() {
    if (this.mode !== "idle") return this._cancelDrag(), true;
    if (this.armed) return (this.armed = false), this._changed(), true;
    if (this.selectedKey) return this.select(null), true;
    return false;
  }

  deleteSelected() {
    if (this.readOnly || !this.selectedKey) return false;
    const proposal = this._selectedProposal();
    if (proposal) this.rejectProposal(proposal.id);
    else this.removeBox(this.selectedKey);
    return true;
  }

  acceptProposal(id) {
    const proposal = this._proposals.find((p) => p.id === id);
    if (!proposal) return;
    this._proposals = this._proposals.filter((p) => p !== proposal);
    if (this.selectedKey === proposal.key) this._select(null);
    this._emit("proposalaccepted", proposal);
    this._changed();
  }

  rejectProposal(id) {
    const proposal = this._proposals.find((p) => p.id === id);
    if (!proposal) return;
    this._proposals = this._proposals.filter((p) => p !== proposal);
    if (this.selectedKey === proposal.key) this._select(null);
    this._emit("proposalrejected", proposal);
    this._changed();
  }

  zoomBy(factor, screenX, screenY) {
    const { cssW, cssH } = this.view;
    this._zoomAt(factor, screenX ?? cssW / 2, screenY ?? cssH / 2);
  }

  resetZoom() {
    this.zoom = 1;
    this._layout();
  }

  destroy() {
    this._destroyed = true;
    this._observer?.disconnect();
    window.removeEventListener("keydown", this._onWindowKey);
    window.removeEventListener("keyup", this._onWindowKey);
    clearTimeout(this._nudgeTimer);
    this.stage.remove();
  }

  // ---- internals ----
  _own(box, prefix) {
    const out = { ...box, key: box.key ?? nextKey(prefix), tagId: box.tagId ?? null };
    for (const k of ["left", "top", "width", "height"]) out[k] = Number(box[k]) || 0;
    return out;
  }

  _find(key) {
    return this._boxes.find((b) => b.key === key) || this._proposals.find((p) => p.key === key);
  }

  _selectedProposal() {
    return this._proposals.find((p) => p.key === this.selectedKey) || null;
  }

  _select(key) {
    if (this.selectedKey === key) return;
    this.selectedKey = key;
    const box = key ? this._find(key) : null;
    this.dispatchEvent(new CustomEvent("selectionchange", { detail: box ? copy(box) : null }));
  }

  _emit(type, box, previous) {
    const detail = copy(box);
    if (previous) detail.previous = previous;
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _changed() {
    this._describe();
    this._draw();
  }

  _tagName(tagId) {
    return this.tags.find((t) => t.id === tagId)?.name;
  }

  _color(tagId) {
    const index = this.tags.findIndex((t) => t.id === tagId);
    return index < 0 ? "#6b7280" : tagColor(index);
  }

  _describe() {
    const names = this._boxes.map((b) => this._tagName(b.tagId) || "untagged");
    const parts = [this._boxes.length ? `${this._boxes.length} box${this._boxes.length === 1 ? "" : "es"}: ${names.join(", ")}.` : "No boxes."];
    if (this._proposals.length) parts.push(`${this._proposals.length} suggested.`);
    const selected = this.selectedKey && this._find(this.selectedKey);
    if (selected) parts.push(`Selected: ${this._tagName(selected.tagId) || (this._selectedProposal() ? "suggested object" : "untagged")}.`);
    if (this.armed) parts.push("Drag on the image to draw a new box.");
    this.description.textContent = parts.join(" ");
  }

  // Fit the image to the available width (and at most ~70 % of the window's height), high-DPI aware.
  _layout() {
    if (this._destroyed) return;
    const cssW = Math.max(1, Math.floor(this.stage.clientWidth || this.container.clientWidth || 320));
    const { width, height } = this.natural;
    const maxH = Math.max(220, Math.round(window.innerHeight * 0.7));
    const fit = width && height ? Math.min(cssW / width, maxH / height) : 1;
    const cssH = width && height ? Math.max(1, Math.round(height * fit)) : 240;
    const dpr = window.devicePixelRatio || 1;
    this.view = { fit, cssW, cssH, offX: 0, offY: 0, dpr };
    this.canvas.width = Math.round(cssW * dpr);
    this.canvas.height = Math.round(cssH * dpr);
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    this.zoom = Math.min(Math.max(1, this.zoom), MAX_ZOOM);
    this._centre();
    this._draw();
  }

  get _scale() {
    return this.view.fit * this.zoom;
  }

  _centre() {
    const { width, height } = this.natural;
    const s = this._scale;
    this.view.offX = (this.view.cssW - width * s) / 2;
    this.view.offY = (this.view.cssH - height * s) / 2;
  }

  // Keeps the image covering the canvas when it is larger, centred when it is smaller.
  _clampPan() {
    const { width, height } = this.natural;
    const s = this._scale;
    const fix = (off, size, room) => (size <= room ? (room - size) / 2 : Math.min(0, Math.max(room - size, off)));
    this.view.offX = fix(this.view.offX, width * s, this.view.cssW);
    this.view.offY = fix(this.view.offY, height * s, this.view.cssH);
  }

  _zoomAt(factor, sx, sy) {
    if (!this.loaded) return;
    const zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    const before = this._toImage(sx, sy);
    this.zoom = zoom;
    this.view.offX = sx - before.x * this._scale;
    this.view.offY = sy - before.y * this._scale;
    this._clampPan();
    this._draw();
  }

  _toImage(sx, sy) {
    return { x: (sx - this.view.offX) / this._scale, y: (sy - this.view.offY) / this._scale };
  }

  _toScreen(box) {
    const r = toPixels(box, this.natural.width, this.natural.height);
    const s = this._scale;
    return { x: this.view.offX + r.x * s, y: this.view.offY + r.y * s, w: r.w * s, h: r.h * s };
  }

  _point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  _handlePoints(r) {
    const cx = r.x + r.w / 2;
    const cy = r.y + r.h / 2;
    return { nw: [r.x, r.y], n: [cx, r.y], ne: [r.x + r.w, r.y], e: [r.x + r.w, cy], se: [r.x + r.w, r.y + r.h], s: [cx, r.y + r.h], sw: [r.x, r.y + r.h], w: [r.x, cy] };
  }

  // What is under a screen point: a handle of the selected box, else the smallest box or proposal.
  _hit(p, touch) {
    const tolerance = touch ? 16 : 7;
    const selected = this._boxes.find((b) => b.key === this.selectedKey);
    if (selected && !this.readOnly) {
      const points = this._handlePoints(this._toScreen(selected));
      for (const name of HANDLES) {
        const [hx, hy] = points[name];
        if (Math.abs(p.x - hx) <= tolerance && Math.abs(p.y - hy) <= tolerance) return { kind: "handle", box: selected, handle: name };
      }
    }
    let best = null;
    for (const item of [...this._boxes, ...this._proposals]) {
      const r = this._toScreen(item);
      if (p.x >= r.x - 3 && p.x <= r.x + r.w + 3 && p.y >= r.y - 3 && p.y <= r.y + r.h + 3) {
        const area = r.w * r.h;
        if (!best || area < best.area) best = { kind: this._proposals.includes(item) ? "proposal" : "box", box: item, area };
      }
    }
    return best;
  }

  _insideImage(p) {
    const i = this._toImage(p.x, p.y);
    return i.x >= 0 && i.y >= 0 && i.x <= this.natural.width && i.y <= this.natural.height;
  }

  _listen() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this._down(e));
    c.addEventListener("pointermove", (e) => this._move(e));
    c.addEventListener("pointerup", (e) => this._up(e));
    c.addEventListener("pointercancel", () => this._cancelDrag());
    c.addEventListener("pointerenter", () => (this.hovering = true));
    c.addEventListener("pointerleave", () => (this.hovering = false));
    c.addEventListener("wheel", (e) => {
      if (!this.loaded) return;
      e.preventDefault();
      const p = this._point(e);
      this._zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, p.x, p.y);
    }, { passive: false });
    c.addEventListener("keydown", (e) => this._key(e));
    // Space-drag pans: space is tracked on the window while the pointer is over the canvas or it has focus.
    this._onWindowKey = (e) => {
      if (!this.canvas.isConnected) {
        window.removeEventListener("keydown", this._onWindowKey);
        window.removeEventListener("keyup", this._onWindowKey);
        return;
      }
      if (e.code !== "Space") return;
      const mine = this.hovering || document.activeElement === this.canvas;
      if (e.type === "keydown" && mine) {
        this.spaceHeld = true;
        this.canvas.style.cursor = "grab";
        e.preventDefault();
      } else if (e.type === "keyup") {
        this.spaceHeld = false;
        this.canvas.style.cursor = "";
      }
    };
    window.addEventListener("keydown", this._onWindowKey);
    window.addEventListener("keyup", this._onWindowKey);
    if ("ResizeObserver" in window) {
      let lastWidth = 0;
      this._observer = new ResizeObserver(() => {
        const width = this.stage.clientWidth;
        if (width && width !== lastWidth) {
          lastWidth = width;
          this._layout();
        }
      });
      this._observer.observe(this.stage);
    }
  }

  _down(e) {
    if (!this.loaded || (e.button !== 0 && e.button !== 1)) return;
    e.preventDefault();
    if (!this.readOnly) this.canvas.focus({ preventScroll: true });
    const p = this._point(e);
    const start = { pointer: e.pointerId, p, image: this._toImage(p.x, p.y) };
    const pan = () => ({ ...start, offX: this.view.offX, offY: this.view.offY });
    let mode = null;
    if (e.button === 1 || this.spaceHeld) mode = ["panning", pan()];
    else if (this.readOnly) {
      const hit = this._hit(p, e.pointerType === "touch");
      this.select(hit ? hit.box.key : null);
      if (this.zoom > 1) mode = ["panning", pan()];
    } else if (this.armed && this._insideImage(p)) {
      mode = ["drawing", { ...start, current: start.image }];
    } else {
      const hit = this._hit(p, e.pointerType === "touch");
      if (hit?.kind === "handle") {
        mode = ["resizing", { ...start, key: hit.box.key, handle: hit.handle, before: copy(hit.box) }];
      } else if (hit?.kind === "box") {
        this.select(hit.box.key);
        mode = ["moving", { ...start, key: hit.box.key, before: copy(hit.box) }];
      } else if (hit?.kind === "proposal") {
        this.select(hit.box.key);
      } else if (this._insideImage(p)) {
        mode = ["drawing", { ...start, current: start.image }];
      } else {
        this.select(null);
        if (this.zoom > 1) mode = ["panning", pan()];
      }
    }
    if (!mode) return;
    [this.mode, this.drag] = mode;
    this.canvas.setPointerCapture?.(e.pointerId);
    this._draw();
  }

  _move(e) {
    const p = this._point(e);
    if (this.mode === "idle") return this._hover(p, e.pointerType === "touch");
    if (!this.drag || e.pointerId !== this.drag.pointer) return;
    const { width, height } = this.natural;
    const image = this._toImage(p.x, p.y);
    if (this.mode === "panning") {
      this.view.offX = this.drag.offX + (p.x - this.drag.p.x);
      this.view.offY = this.drag.offY + (p.y - this.drag.p.y);
      this._clampPan();
    } else if (this.mode === "drawing") {
      this.drag.current = image;
    } else if (this.mode === "moving") {
      const box = this._boxes.find((b) => b.key === this.drag.key);
      const before = this.drag.before;
      Object.assign(box, clampBox({ ...before, left: before.left + (image.x - this.drag.image.x) / width, top: before.top + (image.y - this.drag.image.y) / height }));
    } else if (this.mode === "resizing") {
      const box = this._boxes.find((b) => b.key === this.drag.key);
      const r = toPixels(this.drag.before, width, height);
      let [x1, y1, x2, y2] = [r.x, r.y, r.x + r.w, r.y + r.h];
      const handle = this.drag.handle;
      if (handle.includes("w")) x1 = image.x;
      if (handle.includes("e")) x2 = image.x;
      if (handle.includes("n")) y1 = image.y;
      if (handle.includes("s")) y2 = image.y;
      Object.assign(box, fromCorners(x1, y1, x2, y2, width, height));
    }
    this._draw();
  }

  _up(e) {
    if (!this.drag || e.pointerId !== this.drag.pointer) return;
    const { mode, drag } = this;
    this.mode = "idle";
    this.drag = null;
    this.canvas.releasePointerCapture?.(e.pointerId);
    const { width, height } = this.natural;
    if (mode === "drawing") {
      const a = drag.image;
      const b = drag.current;
      const s = this._scale;
      if (Math.abs(b.x - a.x) * s >= MIN_DRAW_PX && Math.abs(b.y - a.y) * s >= MIN_DRAW_PX) {
        const box = this._own({ tagId: this.activeTagId, ...fromCorners(a.x, a.y, b.x, b.y, width, height) }, "b");
        this._boxes.push(box);
        this.armed = false;
        this._select(box.key);
        this._emit("boxcreated", box);
      } else if (!this.armed) {
        this._select(null);
      }
    } else if (mode === "moving" || mode === "resizing") {
      const box = this._boxes.find((b) => b.key === drag.key);
      const tooSmall = box.width * width * this._scale < 2 || box.height * height * this._scale < 2;
      if (tooSmall) Object.assign(box, drag.before);
      else if (!same(box, drag.before)) this._emit("boxchanged", box, drag.before);
    }
    this._changed();
  }

  _cancelDrag() {
    if (this.mode === "idle") return;
    if ((this.mode === "moving" || this.mode === "resizing") && this.drag) {
      const box = this._boxes.find((b) => b.key === this.drag.key);
      if (box) Object.assign(box, this.drag.before);
    }
    this.mode = "idle";
    this.drag = null;
    this._draw();
  }

  _hover(p, touch) {
    if (this.spaceHeld) return;
    let cursor = "";
    if (!this.readOnly && this.loaded) {
      const hit = this.armed ? null : this._hit(p, touch);
      if (hit?.kind === "handle") cursor = CURSORS[hit.handle];
      else if (hit?.kind === "box") cursor = "move";
      else if (hit?.kind === "proposal") cursor = "pointer";
      else if (this._insideImage(p)) cursor = "crosshair";
    } else if (this.zoom > 1) cursor = "grab";
    this.canvas.style.cursor = cursor;
  }

  // Keys while the canvas has focus; a handled key is preventDefault-ed so the page ignores it.
  _key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const handled = () => e.preventDefault();
    const key = e.key;
    if (key === "+" || key === "=") return handled(), this.zoomBy(1.25);
    if (key === "-" || key === "_") return handled(), this.zoomBy(1 / 1.25);
    if (key === "0") return handled(), this.resetZoom();
    if (this.readOnly) return;
    if (key === "Escape") {
      if (this.cancel()) handled();
      return;
    }
    if (key === "n" || key === "N") return handled(), this.startDrawing();
    if (key === "Delete" || key === "Backspace") {
      if (this.deleteSelected()) handled();
      return;
    }
    const proposal = this._selectedProposal();
    if (key === "Enter" && proposal) return handled(), this.acceptProposal(proposal.id);
    const box = this._boxes.find((b) => b.key === this.selectedKey);
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (box && arrows[key]) {
      // Arrows nudge the selected box by a pixel (10 with Shift); one "boxchanged" once the nudging stops.
      handled();
      const step = (e.shiftKey ? 10 : 1) / this._scale;
      this._nudgeBefore ??= copy(box);
      Object.assign(box, clampBox({ ...box, left: box.left + (arrows[key][0] * step) / this.natural.width, top: box.top + (arrows[key][1] * step) / this.natural.height }));
      this._draw();
      clearTimeout(this._nudgeTimer);
      this._nudgeTimer = setTimeout(() => {
        const before = this._nudgeBefore;
        this._nudgeBefore = null;
        const now = this._boxes.find((b) => b.key === before.key);
        if (now && !same(now, before)) this._emit("boxchanged", now, before);
      }, 400);
    }
  }

  // ---- drawing ----
  _draw() {
    if (this._destroyed) return;
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const { cssW, cssH, dpr = 1 } = this.view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const muted = getComputedStyle(this.stage).color || "#555";
    if (!this.loaded) {
      ctx.fillStyle = muted;
      ctx.font = "14px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(this.failed ? "The image could not be loaded." : "Loading the image…", cssW / 2, cssH / 2);
      ctx.textAlign = "start";
      this._placeActions();
      return;
    }
    const s = this._scale;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.image, this.view.offX, this.view.offY, this.natural.width * s, this.natural.height * s);
    for (const box of this._boxes) this._drawBox(ctx, box, false);
    for (const proposal of this._proposals) this._drawBox(ctx, proposal, true);
    if (this.mode === "drawing" && this.drag) {
      const a = this.drag.image;
      const b = this.drag.current;
      const box = fromCorners(a.x, a.y, b.x, b.y, this.natural.width, this.natural.height);
      const r = this._toScreen(box);
      ctx.save();
      ctx.setLineDash([5, 3]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffffff";
      ctx.strokeRect(r.x, r.y, r.w, r.h);
      ctx.strokeStyle = this._color(this.activeTagId);
      ctx.lineDashOffset = 4;
      ctx.strokeRect(r.x, r.y, r.w, r.h);
      ctx.restore();
    }
    this._placeActions();
  }

  _drawBox(ctx, box, proposal) {
    const r = this._toScreen(box);
    const selected = box.key === this.selectedKey;
    const color = proposal && !box.tagId ? PROPOSAL_COLOR : this._color(box.tagId);
    ctx.save();
    if (selected) {
      ctx.globalAlpha = 0.18;
      ctx.fillStyle = color;
      ctx.fillRect(r.x, r.y, r.w, r.h);
      ctx.globalAlpha = 1;
    }
    // A dark outline under the colour keeps every box visible on light and dark photos alike.
    ctx.lineWidth = selected ? 5 : 4;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
    if (proposal) ctx.setLineDash([7, 5]);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    ctx.lineWidth = selected ? 3 : 2;
    ctx.strokeStyle = color;
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    ctx.setLineDash([]);

    let text = this._tagName(box.tagId) || (proposal ? "Suggested" : "No tag");
    if (box.probability !== undefined && box.probability !== null) text += ` ${Math.round(box.probability * 100)}%`;
    ctx.font = "600 12px system-ui, sans-serif";
    const tw = ctx.measureText(text).width + 8;
    const th = 18;
    const lx = Math.min(Math.max(0, r.x), this.view.cssW - tw);
    const ly = r.y - th >= 0 ? r.y - th : r.y;
    ctx.fillStyle = color;
    ctx.fillRect(lx, ly, tw, th);
    ctx.fillStyle = proposal && !box.tagId ? "#111111" : "#ffffff";
    ctx.fillText(text, lx + 4, ly + 13);

    if (selected && !proposal && !this.readOnly) {
      const size = matchMedia("(pointer: coarse)").matches ? 12 : 8;
      for (const [hx, hy] of Object.values(this._handlePoints(r))) {
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(hx - size / 2, hy - size / 2, size, size);
        ctx.lineWidth = 2;
        ctx.strokeStyle = color;
        ctx.strokeRect(hx - size / 2, hy - size / 2, size, size);
      }
    }
    ctx.restore();
  }

  // The Accept / Reject buttons float under the selected suggestion.
  _placeActions() {
    const proposal = this.readOnly ? null : this._selectedProposal();
    this.actions.hidden = !proposal;
    if (!proposal) return;
    const r = this._toScreen(proposal);
    const name = this._tagName(proposal.tagId) || "object";
    const pct = proposal.probability !== undefined ? ` ${Math.round(proposal.probability * 100)}%` : "";
    this.acceptButton.setAttribute("aria-label", `Accept suggested ${name}${pct}`);
    this.rejectButton.setAttribute("aria-label", `Reject suggested ${name}${pct}`);
    const width = this.actions.offsetWidth || 160;
    const height = this.actions.offsetHeight || 40;
    const left = Math.min(Math.max(0, r.x), Math.max(0, this.view.cssW - width));
    const below = r.y + r.h + 6;
    const top = below + height <= this.view.cssH ? below : Math.max(0, r.y - height - 22);
    this.actions.style.left = `${left}px`;
    this.actions.style.top = `${top}px`;
  }
}
