"use strict";
// The page: one tab per registered view, two drop zones and the view's options; jobs.js lists and shows jobs.
const $ = (id) => document.getElementById(id);
const state = { views: [], view: null, files: { a: null, b: null }, jobs: new Map(), open: null, shown: null,
                timer: null, scrollUntil: 0 };

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

function viewOf(name) {
  return state.views.find((x) => x.name === name);
}

function setFile(key, file) {
  state.files[key] = file;
  const img = $(`preview_${key}`);
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = file ? URL.createObjectURL(file) : "";
  img.hidden = !file;
  $(`drop_${key}`).querySelector(".hint").textContent = file ? file.name : "drop an image here or click to choose";
}

function optionField(o) {
  const id = `opt_${o.name}`;
  let input;
  if (o.kind === "choice") {
    input = el("select", { id, name: o.name });
    for (const c of o.choices) input.append(el("option", { value: c, textContent: c, selected: c === o.default }));
  } else if (o.kind === "bool") {
    input = el("input", { id, name: o.name, type: "checkbox", checked: o.default });
  } else {
    input = el("input", { id, name: o.name, type: "number", value: o.default, min: o.lo, max: o.hi,
                          step: o.kind === "int" ? 1 : "any" });
  }
  const field = el("div", { className: "field" }, el("label", { htmlFor: id, textContent: o.label }), input);
  if (o.help) field.append(el("small", { textContent: o.help }));
  return field;
}

function selectView(name) {
  const v = viewOf(name) || state.views[0];
  state.view = v;
  for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.dataset.name === v.name));
  $("description").textContent = v.description;
  $("label_a").textContent = v.inputs[0];
  $("label_b").textContent = v.inputs[1];
  $("pairing").textContent = v.advice || "";
  $("pairing").hidden = !v.advice;
  const size = $("size");
  size.min = v.size.min; size.max = v.size.max; size.value = v.size.default;
  $("size_out").textContent = size.value;
  $("method_options").replaceChildren(...v.options.map(optionField));
  history.replaceState(null, "", `#${v.name}`);
  showError("");
  render();  // the open job's progress and results belong to its own tab only
}

async function loadExamples() {
  const v = state.view;
  showError("");
  for (const [i, key] of ["a", "b"].entries()) {
    const res = await fetch(`api/examples/${encodeURIComponent(v.examples[i])}`);
    const blob = await res.blob();
    setFile(key, new File([blob], v.examples[i], { type: blob.type }));
  }
}

function formData() {
  const fd = new FormData();
  fd.append("method", state.view.name);
  fd.append("size", $("size").value);
  for (const o of state.view.options) {
    const input = $(`opt_${o.name}`);
    fd.append(o.name, o.kind === "bool" ? String(input.checked) : input.value);
  }
  fd.append("image_a", state.files.a, state.files.a.name);
  fd.append("image_b", state.files.b, state.files.b.name);
  return fd;
}

async function run() {
  showError("");
  if (!state.files.a || !state.files.b) { showError("choose two images first (or try the example images)"); return; }
  $("go").disabled = true;
  $("progress_panel").hidden = false;
  $("bar_fill").style.width = "0";
  $("status").textContent = "uploading...";
  let res;
  try { res = await fetch("api/jobs", { method: "POST", body: formData() }); }
  catch (e) { render(); showError("the server cannot be reached"); return; }
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
  if (!res.ok) { render(); showError(body.error); return; }
  state.jobs.set(body.id, body);
  state.open = body.id;
  render();
  refresh();
}

function wireDrop(key) {
  const zone = $(`drop_${key}`), input = $(`file_${key}`);
  input.addEventListener("change", () => { if (input.files[0]) setFile(key, input.files[0]); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files[0]) setFile(key, e.dataTransfer.files[0]);
  });
}

async function init() {
  const info = await (await fetch("api/methods")).json();
  state.views = info.methods;
  $("limits").textContent = `PNG, JPEG, WebP, TIFF, BMP or GIF; up to ${info.max_upload_mb} MB and ${info.max_megapixels} megapixels`;
  for (const v of state.views) {
    const b = el("button", { type: "button", textContent: v.title, role: "tab" });
    b.dataset.name = v.name;
    b.addEventListener("click", () => selectView(v.name));
    $("tabs").append(b);
  }
  wireDrop("a"); wireDrop("b");
  $("size").addEventListener("input", () => { $("size_out").textContent = $("size").value; });
  $("example").addEventListener("click", loadExamples);
  $("go").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("compare_slider").addEventListener("input", (e) => {
    $("compare_after").style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
  });
  selectView(location.hash.slice(1));
  await resume();
}
window.addEventListener("DOMContentLoaded", init);
