// modelport web UI: progressive enhancements, no dependencies.
"use strict";

(function () {
  const API = "/api/v1";
  const LIVE = ["pending", "converting"];

  function problemText(xhrOrBody, fallback) {
    try {
      const body = typeof xhrOrBody === "string" ? JSON.parse(xhrOrBody) : xhrOrBody;
      if (body && (body.detail || body.title)) {
        let text = body.detail || body.title;
        if (Array.isArray(body.errors) && body.errors.length) {
          text += " (" + body.errors.map((e) => (e.loc ? e.loc.join(".") + ": " : "") + (e.msg || e.message || "")).join("; ") + ")";
        }
        return text;
      }
    } catch (e) { /* not JSON */ }
    return fallback;
  }

  // ---- copy buttons -------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => legacyCopy(text));
    }
    return Promise.resolve(legacyCopy(text));
  }
  function legacyCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* ignore */ }
    document.body.removeChild(area);
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = button.getAttribute("data-copy");
    copyText(text).then(() => {
      const old = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("data-copied", text);
      setTimeout(() => { button.textContent = old; }, 1500);
    });
  });

  // ---- aliases -------------------------------------------------------------
  function aliasUrl(model, alias) {
    return API + "/models/" + encodeURIComponent(model) + "/aliases/" + encodeURIComponent(alias);
  }
  function aliasMessage(text, ok) {
    const box = document.getElementById("alias-message");
    if (!box) return;
    box.className = ok ? "ok-box" : "error-box";
    box.textContent = text;
  }
  async function aliasRequest(method, model, alias, body) {
    const response = await fetch(aliasUrl(model, alias), {
      method: method,
      headers: body ? { "Content-Type": "application/json", "Accept": "application/json" } : { "Accept": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) {
      const text = await response.text();
      throw new Error(problemText(text, method + " failed with HTTP " + response.status));
    }
  }
  function initAliases() {
    const form = document.getElementById("alias-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const model = form.getAttribute("data-model");
        const alias = form.elements.alias.value.trim();
        const version = parseInt(form.elements.version.value, 10);
        try {
          await aliasRequest("PUT", model, alias, { version: version });
          aliasMessage("@" + alias + " now points at v" + version + ".", true);
          window.location.reload();
        } catch (err) {
          aliasMessage(err.message, false);
        }
      });
    }
    const split = document.getElementById("alias-split-form");
    if (split) {
      split.addEventListener("submit", async (event) => {
        event.preventDefault();
        const model = split.getAttribute("data-model");
        const alias = split.elements.alias.value.trim();
        const weights = {};
        const words = split.elements.weights.value.trim().split(/[\s,]+/).filter(Boolean);
        for (const word of words) {
          const match = /^(\d+)\s*[=:]\s*(\d+)$/.exec(word);
          if (!match) {
            aliasMessage("cannot read '" + word + "' as VERSION=PERCENT; write e.g. 3=90 4=10", false);
            return;
          }
          weights[match[1]] = parseInt(match[2], 10);
        }
        try {
          await aliasRequest("PUT", model, alias, { weights: weights });
          aliasMessage("@" + alias + " now splits " + words.join(" ") + ".", true);
          window.location.reload();
        } catch (err) {
          aliasMessage(err.message, false);
        }
      });
    }
    document.querySelectorAll("[data-alias-remove]").forEach((button) => {
      button.addEventListener("click", async () => {
        const alias = button.getAttribute("data-alias-remove");
        const model = button.getAttribute("data-model");
        try {
          await aliasRequest("DELETE", model, alias, null);
          aliasMessage("@" + alias + " removed.", true);
          window.location.reload();
        } catch (err) {
          aliasMessage(err.message, false);
        }
      });
    });
  }

  // ---- live conversion progress -------------------------------------------
  function initLive() {
    const body = document.getElementById("version-body");
    if (!body || LIVE.indexOf(body.getAttribute("data-status")) < 0) return;
    const api = body.getAttribute("data-api");
    const fragment = body.getAttribute("data-fragment");
    const jobUrl = body.getAttribute("data-job");
    async function jobText() {
      if (!jobUrl) return "";
      try {
        const response = await fetch(jobUrl, { headers: { "Accept": "application/json" }, cache: "no-store" });
        if (!response.ok) return "";
        const job = await response.json();
        const since = Date.parse(job.started_at || job.created_at);
        const secs = isNaN(since) ? "" : ", " + Math.max(0, (Date.now() - since) / 1000).toFixed(1) + " s";
        return " · job " + job.status + " (attempt " + job.attempts + secs + ")";
      } catch (e) {
        return "";
      }
    }
    let shown = body.getAttribute("data-status");
    let delay = 500;
    async function tick() {
      try {
        const response = await fetch(api, { headers: { "Accept": "application/json" }, cache: "no-store" });
        if (response.ok) {
          const data = await response.json();
          const text = document.getElementById("live-text");
          const formats = (data.artifacts || []).filter((a) => a.format !== "source").map((a) => a.format + " " + a.status).join(", ");
          if (text) text.textContent = data.status + (await jobText()) + (formats ? " · " + formats : "");
          if (data.status !== shown) {
            const html = await fetch(fragment, { cache: "no-store" });
            if (html.ok) {
              body.innerHTML = await html.text();
              shown = data.status;
              body.setAttribute("data-status", shown);
            }
          }
          if (LIVE.indexOf(data.status) < 0 && data.status === shown) return;
        }
      } catch (e) { /* transient; try again */ }
      delay = Math.min(delay * 1.5, 3000);
      setTimeout(tick, delay);
    }
    setTimeout(tick, delay);
  }

  // ---- upload --------------------------------------------------------------
  function initUpload() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const zone = document.getElementById("dropzone");
    const fileInput = document.getElementById("file");
    const chosen = document.getElementById("file-chosen");
    const nameInput = document.getElementById("name");
    function showChosen() {
      const file = fileInput.files[0];
      chosen.textContent = file ? file.name + " (" + file.size + " bytes)" : "";
      if (file && !nameInput.value) {
        nameInput.value = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 128);
      }
    }
    fileInput.addEventListener("change", showChosen);
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) {
        fileInput.files = e.dataTransfer.files;
        showChosen();
      }
    });
    zone.addEventListener("click", (e) => { if (e.target === zone) fileInput.click(); });

    const status = document.getElementById("upload-status");
    const bar = document.getElementById("upload-progress");
    const percent = document.getElementById("upload-percent");
    const errorBox = document.getElementById("upload-error");
    const button = document.getElementById("upload-button");
    function fail(text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
      button.disabled = false;
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      errorBox.hidden = true;
      const name = nameInput.value.trim();
      if (!nameInput.checkValidity() || !name) return fail("Enter a model name: letters, digits, '.', '_' and '-', starting with a letter or digit.");
      if (!fileInput.files.length) return fail("Choose a model file to upload.");
      const data = new FormData();
      data.append("file", fileInput.files[0]);
      const targets = Array.from(form.querySelectorAll("input[name=targets]:checked")).map((c) => c.value);
      if (targets.length) data.append("targets", targets.join(","));
      const sample = document.getElementById("sample");
      if (sample.files.length) data.append("sample", sample.files[0]);
      const description = document.getElementById("description").value;
      if (description) data.append("description", description);

      const xhr = new XMLHttpRequest();
      xhr.open("POST", API + "/models/" + encodeURIComponent(name) + "/versions");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        const p = Math.round((100 * e.loaded) / e.total);
        bar.value = p;
        percent.textContent = p + "%";
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 202 || xhr.status === 201) {
          bar.value = 100;
          percent.textContent = "100%";
          const body = JSON.parse(xhr.responseText);
          window.location.assign("/models/" + encodeURIComponent(body.name) + "/versions/" + body.version);
        } else {
          fail(problemText(xhr.responseText, "Upload failed with HTTP " + xhr.status + "."));
        }
      });
      xhr.addEventListener("error", () => fail("Upload failed: the registry could not be reached or closed the connection (is the file over the upload limit?)."));
      status.hidden = false;
      button.disabled = true;
      xhr.send(data);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initAliases();
    initLive();
    initUpload();
  });
})();
