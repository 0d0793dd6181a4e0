/* Wendelin web UI: progressive enhancements (select all, uploads with progress). */
"use strict";
(function () {
  function each(selector, fn, root) { Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn); }

  // "Select all" checkbox of listings.
  each("input.select-all", function (box) {
    box.addEventListener("change", function () {
      each("input[name='ids:list']", function (item) { item.checked = box.checked; }, box.closest("form"));
    });
  });

  // Deleting needs a selection.
  each("form.listing-form", function (form) {
    form.addEventListener("submit", function (event) {
      if (!form.querySelector("input[name='ids:list']:checked")) {
        event.preventDefault();
        window.alert("Select at least one document first.");
      }
    });
  });

  function humanSize(n) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i ? n.toFixed(1) + " " + units[i] : n + " bytes";
  }

  function uploadOne(form, file, row, single) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("_csrf", form.querySelector("input[name=_csrf]").value);
      data.append("file", file, file.name);
      if (single) {
        data.append("reference", form.querySelector("input[name=reference]").value);
        data.append("title", form.querySelector("input[name=title]").value);
      }
      if (form.querySelector("input[name=replace]").checked) { data.append("replace", "1"); }
      var xhr = new XMLHttpRequest();
      var bar = row.querySelector("progress"), state = row.querySelector(".state");
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
        state.textContent = Math.round(100 * event.loaded / (event.total || 1)) + " %";
      });
      xhr.addEventListener("load", function () {
        var answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
        bar.value = bar.max;
        if (xhr.status === 201) {
          state.className = "state " + (answer.warning ? "warning" : "ok");
          state.textContent = "";
          var link = document.createElement("a");
          link.href = answer.url + "/view";
          link.textContent = answer.warning ? "Stored as bytes" : "Done";
          state.appendChild(link);
          if (answer.warning) { row.title = answer.warning; state.append(" — " + answer.warning); }
        } else {
          state.className = "state error";
          state.textContent = answer.error || ("Failed (" + xhr.status + ")");
        }
        resolve(xhr.status === 201);
      });
      xhr.addEventListener("error", function () {
        state.className = "state error"; state.textContent = "Network error"; resolve(false);
      });
      xhr.send(data);
    });
  }

  each("#upload-form", function (form) {
    var input = form.querySelector("input[type=file]"), list = form.querySelector("#upload-list");
    var zone = form.querySelector(".dropzone");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("dragover"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragover"); });
    });
    zone.addEventListener("drop", function (e) { e.preventDefault(); input.files = e.dataTransfer.files; });
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !input.files.length) { return; }
      event.preventDefault();
      list.textContent = "";
      var files = Array.prototype.slice.call(input.files), single = files.length === 1;
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      var chain = Promise.resolve(), ok = true;
      files.forEach(function (file) {
        var row = document.createElement("li");
        var name = document.createElement("span"); name.className = "name";
        name.textContent = file.name + " (" + humanSize(file.size) + ")";
        var bar = document.createElement("progress"); bar.max = file.size || 1; bar.value = 0;
        bar.setAttribute("aria-label", "Upload progress of " + file.name);
        var state = document.createElement("span"); state.className = "state"; state.textContent = "Waiting";
        row.appendChild(name); row.appendChild(bar); row.appendChild(state); list.appendChild(row);
        chain = chain.then(function () { return uploadOne(form, file, row, single); })
                     .then(function (done) { ok = ok && done; });
      });
      chain.then(function () {
        button.disabled = false;
        var done = document.createElement("li");
        done.className = "summary";
        var link = document.createElement("a");
        link.href = window.location.pathname.replace(/\/$/, "") + "?sort=id&order=descending";
        link.textContent = ok ? "All uploads done — refresh the listing" : "Some uploads failed — refresh the listing";
        done.appendChild(link);
        list.appendChild(done);
      });
    });
  });
})();
