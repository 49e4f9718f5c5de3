// The studio's entry: sign-in, then a hash router over the pages.
//   #/                                 projects
//   #/projects/{id}/images?...         training images (tag / untagged / iteration filters, page)
//   #/projects/{id}/images/{imageId}   the image editor (tags, boxes)
//   #/projects/{id}/performance[/{iterationId}]
//   #/projects/{id}/predictions
import { forgetTrainingKey, keyWorks, setTrainingKey, trainingKey } from "./api.js";
import { forgetConfig, loadConfig } from "./config.js";
import { clear, errorNotice, field, h } from "./ui.js";

const main = document.getElementById("main");
let rendering = 0;

export function parseRoute(hash) {
  const [path, query = ""] = (hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query));
  if (parts[0] === "projects" && parts[1]) {
    return { page: "project", projectId: parts[1], tab: parts[2] || "images", item: parts[3] || null, params };
  }
  return { page: "projects", params };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  const ticket = ++rendering;
  const route = parseRoute(location.hash);
  document.getElementById("sign-out").hidden = !trainingKey();
  if (!trainingKey()) return signIn();
  try {
    const [page] = await Promise.all([
      route.page === "project" ? import("./pages/project.js") : import("./pages/projects.js"),
      loadConfig(),
    ]);
    if (ticket !== rendering) return;
    await page.render(main, { ...route, navigate, isCurrent: () => ticket === rendering });
  } catch (err) {
    if (ticket !== rendering) return;
    if (err.status === 401) {
      forgetTrainingKey();
      return signIn("The training key was not accepted. Enter it again.");
    }
    clear(main, h("h1", {}, "Something went wrong"), errorNotice(err), h("p", {}, h("a", { href: "#/" }, "Back to projects")));
    console.warn(err);
  }
}

function signIn(problem) {
  document.title = "Sign in · cvstudio";
  const input = h("input", { type: "password", name: "training-key", autocomplete: "current-password", required: true, spellcheck: "false" });
  const status = h("div", { "aria-live": "polite" }, problem ? errorNotice({ message: problem }) : null);
  const form = h(
    "form",
    { class: "panel signin", onsubmit: async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      clear(status);
      try {
        if (!(await keyWorks(key))) {
          clear(status, errorNotice({ message: "That key was not accepted. Check for a missing character and try again." }));
          input.focus();
          return;
        }
      } catch (err) {
        clear(status, errorNotice(err));
        return;
      }
      setTrainingKey(key);
      render();
    } },
    h("h1", {}, "Sign in to cvstudio"),
    h("p", { class: "muted" }, "Enter the training key of this server. It stays in this browser tab and is forgotten when you sign out or close it."),
    field("Training key", input, "`cvstudio keys` shows it on the machine that runs the server (the first start prints it too); in Azure it is the training app's key."),
    status,
    h("div", { class: "row end" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
  );
  clear(main, form);
  input.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  forgetTrainingKey();
  forgetConfig();
  location.hash = "#/";
  render();
});
window.addEventListener("hashchange", render);
render();
