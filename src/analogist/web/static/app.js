"use strict";
// The page: one tab per registered view, two drop zones, the view's options, one job at a time.
const $ = (id) => document.getElementById(id);
const state = { views: [], view: null, files: { a: null, b: null }, job: null, timer: null };

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
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
  const v = state.views.find((x) => x.name === name) || state.views[0];
  state.view = v;
  for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.dataset.name === v.name));
  $("description").textContent = v.description;
  $("label_a").textContent = v.inputs[0];
  $("label_b").textContent = v.inputs[1];
  const size = $("size");
  size.min = v.size.min; size.max = v.size.max; size.value = v.size.default;
  $("size_out").textContent = size.value;
  $("method_options").replaceChildren(...v.options.map(optionField));
  history.replaceState(null, "", `#${v.name}`);
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

function busy(running) {
  $("go").disabled = running;
  $("cancel").hidden = !running;
  $("progress_panel").hidden = false;
}

async function run() {
  showError("");
  if (!state.files.a || !state.files.b) { showError("choose two images first (or try the example images)"); return; }
  $("results").hidden = true;
  busy(true);
  $("bar_fill").style.width = "0";
  $("status").textContent = "uploading...";
  let res;
  try { res = await fetch("api/jobs", { method: "POST", body: formData() }); }
  catch (e) { busy(false); showError("the server cannot be reached"); return; }
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
  if (!res.ok) { busy(false); $("progress_panel").hidden = true; showError(body.error); return; }
  state.job = body.id;
  poll();
}

function describe(job) {
  if (job.state === "queued") return job.position > 1 ? `waiting: ${job.position - 1} job(s) ahead of yours` : "starting...";
  if (job.state === "running") {
    const eta = job.eta == null ? "" : ` · about ${Math.max(1, Math.round(job.eta))} s left`;
    return `${job.stage || "working"} · ${Math.round(job.fraction * 100)} %${eta}`;
  }
  if (job.state === "done") return `done in ${job.seconds} s`;
  return job.state;
}

async function poll() {
  clearTimeout(state.timer);
  if (!state.job) return;
  const res = await fetch(`api/jobs/${state.job}`);
  if (!res.ok) { busy(false); showError("this job is gone (the server was restarted?)"); return; }
  const job = await res.json();
  $("bar_fill").style.width = `${Math.round(job.fraction * 100)}%`;
  $("status").textContent = describe(job);
  if (job.state === "queued" || job.state === "running") { state.timer = setTimeout(poll, 500); return; }
  busy(false);
  state.job = null;
  if (job.state === "done") showResults(job);
  else if (job.state === "failed") showError(job.error);
}

function fileUrl(job, name, download = false) {
  return `api/jobs/${job.id}/files/${encodeURIComponent(name)}${download ? "?download=1" : ""}`;
}

function showResults(job) {
  const gallery = $("gallery"), downloads = $("downloads");
  gallery.replaceChildren(); downloads.replaceChildren();
  const stamp = `t=${Date.now()}`;
  for (const { name, role } of job.outputs) {
    const url = fileUrl(job, name);
    if (role !== "file") {
      const media = role === "video"
        ? el("video", { src: url, controls: true, loop: true, muted: true, autoplay: true, playsInline: true })
        : el("img", { src: `${url}?${stamp}`, alt: name });
      gallery.append(el("figure", { className: role === "main" ? "main" : "" }, media, el("figcaption", { textContent: name })));
    }
    const link = el("a", { href: fileUrl(job, name, true), textContent: name === "results.zip" ? "everything (zip)" : name });
    link.setAttribute("download", name);
    downloads.append(el("li", {}, link));
  }
  const v = state.views.find((x) => x.name === job.method);
  $("compare").hidden = !(v && v.compare);
  if (v && v.compare) {
    $("compare_before").src = $("preview_a").src;
    $("compare_after").src = fileUrl(job, v.compare);
  }
  $("results").hidden = false;
}

async function cancel() {
  if (state.job) await fetch(`api/jobs/${state.job}/cancel`, { method: "POST" });
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
  selectView(location.hash.slice(1));
  wireDrop("a"); wireDrop("b");
  $("size").addEventListener("input", () => { $("size_out").textContent = $("size").value; });
  $("example").addEventListener("click", loadExamples);
  $("go").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("compare_slider").addEventListener("input", (e) => {
    $("compare_after").style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
  });
}
init();
