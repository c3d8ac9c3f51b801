// pace web: confirmations before actions, "select all" boxes, times that stay current, and
// live progress bars and overview (server-sent events). No framework, no build step. Text
// from the server is only ever set as textContent.
"use strict";

(() => {
  const root = document.querySelector('meta[name="pace-root"]').content;

  // Every action form asks first: the clicked button's data-confirm, else the form's.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A "select all" box checks every box of its form.
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    for (const other of box.form.querySelectorAll('input[type="checkbox"]:not([data-select-all])')) {
      other.checked = box.checked;
    }
  });

  const duration = (seconds) => {
    const whole = Math.max(0, Math.round(seconds));
    if (whole < 60) return `${whole} s`;
    if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
    if (whole < 86400) return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
    return `${Math.floor(whole / 86400)} d ${Math.floor((whole % 86400) / 3600)} h`;
  };

  // "3 min ago" and "4 min 10 s left" stay current.
  const tick = () => {
    const now = Date.now() / 1000;
    for (const node of document.querySelectorAll("[data-at]")) {
      const delta = now - Number(node.dataset.at);
      node.textContent = delta >= 0 ? `${duration(delta)} ago` : `in ${duration(-delta)}`;
    }
    for (const node of document.querySelectorAll("[data-until]")) {
      const left = Number(node.dataset.until) - now;
      const at = new Date(Number(node.dataset.until) * 1000).toISOString().slice(11, 19);
      node.textContent = left > 0 ? `until ${at} UTC (${duration(left)} left)` : "ending now";
    }
  };
  window.setInterval(tick, 1000);

  const stateOf = (job) => {
    if (job.status === "failed") return `failed: ${job.error || ""}`;
    if (job.status === "completed") return `done in ${duration(job.elapsed_seconds)}`;
    if (job.status === "stale") return `stale: no progress for ${duration(job.silent_seconds)}`;
    if (job.eta_seconds !== null) return `ETA ${duration(job.eta_seconds)}`;
    return job.status;
  };

  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const newRow = (job) => {
    const row = element("li", "bar");
    row.dataset.job = job.job_id;
    const head = element("div", "bar-head");
    const name = element("bdi", "bar-name", job.name || "job");
    head.append(name, " ", element("span", "bar-id muted", job.job_id.slice(0, 12)));
    const info = element("div", "bar-info");
    info.append(element("span", "bar-percent"), " ", element("span", "bar-count"), " ",
      element("span", "bar-state"));
    const bar = document.createElement("progress");
    bar.max = 100;
    row.append(head, bar, info);
    return row;
  };

  const update = (row, job) => {
    row.className = `bar ${job.status}`;
    const bar = row.querySelector("progress");
    if (job.percentage === null) bar.removeAttribute("value");
    else bar.value = job.percentage;
    row.querySelector(".bar-percent").textContent =
      job.percentage === null ? "?%" : `${job.percent}%`;
    row.querySelector(".bar-count").textContent =
      job.total === null ? `${job.count}` : `${job.count}/${job.total}`;
    row.querySelector(".bar-state").textContent = stateOf(job);
  };

  const renderScope = (section, data) => {
    const list = section.querySelector(".bars");
    const rows = new Map([...list.children].map((row) => [row.dataset.job, row]));
    const ordered = data.jobs.map((job) => {
      const row = rows.get(job.job_id) || newRow(job);
      update(row, job);
      return row;
    });
    list.replaceChildren(...ordered);
    section.querySelector(".scope-summary").textContent =
      `${data.running} running · ${data.total} in all`;
    section.querySelector(".empty").hidden = data.jobs.length > 0;
  };

  const same = (a, b) => a.length === b.length && a.every((value, n) => value === b[n]);

  const renderOverview = (box, data) => {
    for (const node of box.querySelectorAll("[data-stat]")) {
      const value = data[node.dataset.stat];
      if (value !== undefined) node.textContent = String(value);
    }
    for (const queue of data.queues) {
      const row = box.querySelector(`tr[data-queue="${CSS.escape(queue.name)}"]`);
      if (!row) continue;
      row.querySelector("[data-size]").textContent = String(queue.size);
      row.querySelector("[data-latency]").textContent =
        queue.latency === null ? "-" : duration(queue.latency);
    }
    const known = JSON.parse(box.dataset.liveOverview);
    const changed = !same(known.queues, data.queues.map((queue) => queue.name)) ||
      !same(known.workers, data.workers);
    box.querySelector("[data-changed]").hidden = !changed;
    box.dataset.updated = String(Date.now());
  };

  // One stream per page: the progress scopes shown, and the overview if it is this page.
  const boxes = [...document.querySelectorAll("[data-live-scopes]")];
  const scopes = boxes.flatMap((box) => JSON.parse(box.dataset.liveScopes));
  const overview = document.querySelector("[data-live-overview]");
  if (scopes.length || overview) {
    const query = scopes.map((scope) => `scope=${encodeURIComponent(scope)}`);
    if (overview) query.push("overview=1");
    const source = new EventSource(`${root}api/events?${query.join("&")}`);
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      for (const box of boxes) {
        for (const section of box.querySelectorAll("[data-scope]")) {
          const scope = data.scopes[section.dataset.scope];
          if (scope) renderScope(section, scope);
        }
        box.dataset.updated = String(Date.now());
      }
    });
    source.addEventListener("overview", (event) => renderOverview(overview, JSON.parse(event.data)));
    window.addEventListener("pagehide", () => source.close());
  }
})();
