// An image's metadata (key/value pairs): shown as a list, edited in a dialog (POST /images/metadata
// merges the given keys into what the image has).
import { api } from "../api.js";
import { clear, errorNotice, h, openDialog, toast } from "../ui.js";

export function metadataSection(state, image, { readOnly, onsaved }) {
  const entries = Object.entries(image.metadata || {});
  return h("section", { class: "editor-section", "aria-labelledby": "meta-heading" },
    h("h3", { id: "meta-heading" }, "Metadata"),
    entries.length
      ? h("dl", { class: "metadata" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))
      : h("p", { class: "muted small" }, "No metadata."),
    readOnly ? null : h("button", { type: "button", onclick: () => editMetadata(state, image, onsaved) }, "Edit metadata"));
}

function editMetadata(state, image, onsaved) {
  const rows = h("div", { class: "meta-rows" });
  let n = 0;
  const row = (key = "", value = "") => {
    n += 1;
    rows.append(h("div", { class: "meta-row" },
      h("input", { type: "text", value: key, "aria-label": `Key ${n}`, placeholder: "key", maxlength: "128" }),
      h("input", { type: "text", value, "aria-label": `Value ${n}`, placeholder: "value", maxlength: "256" })));
  };
  for (const [k, v] of Object.entries(image.metadata || {})) row(k, v);
  row();
  const problem = h("div", { "aria-live": "polite" });
  openDialog({
    title: "Edit metadata",
    body: [h("p", { class: "muted small" }, "Up to 10 keys. A key can be added or its value changed."), rows,
      h("button", { type: "button", onclick: () => row() }, "Add a row"), problem],
    actions: [
      { label: "Cancel" },
      { label: "Save", kind: "primary", onclick: async () => {
        const metadata = {};
        for (const r of rows.children) {
          const [k, v] = [...r.querySelectorAll("input")].map((i) => i.value.trim());
          if (k) metadata[k] = v;
        }
        if (!Object.keys(metadata).length) return true;
        try {
          const answer = await api.post(`/projects/${state.project.id}/images/metadata`, metadata, { imageIds: image.id });
          const result = answer?.images?.[0];
          if (result && result.status !== "OK") {
            clear(problem, errorNotice({ message: result.status === "ErrorLimitExceed" ? "An image holds at most 10 keys." : "The image was not found: it may have been deleted." }));
            return false;
          }
        } catch (err) {
          clear(problem, errorNotice(err));
          return false;
        }
        toast("Metadata saved.");
        onsaved();
        return true;
      } },
    ],
  });
}
