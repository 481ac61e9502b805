/* 通行码: the pass page's live clock, so a guard can tell the page from a screenshot.
 * It starts from the hall's time when the page was made (data-now-ms) and runs on with
 * the phone's own clock, shown in the school's time (UTC+8, no daylight saving) whatever
 * the phone's zone. When the window opens or closes (data-boundary-ms) the page reloads
 * to show the state the hall now gives. */
(function () {
  "use strict";
  var clock = document.getElementById("pass-clock");
  if (!clock) return;
  var serverNow = Number(clock.getAttribute("data-now-ms"));
  var boundary = clock.hasAttribute("data-boundary-ms") ? Number(clock.getAttribute("data-boundary-ms")) : null;
  var loadedAt = Date.now();
  var SCHOOL_OFFSET = 8 * 3600 * 1000;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var now = serverNow + (Date.now() - loadedAt);
    if (boundary !== null && now > boundary + 1000) {  // a second late: the hall agrees by then
      boundary = null;
      window.location.reload();
      return;
    }
    var d = new Date(now + SCHOOL_OFFSET);
    clock.textContent = d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds());
  }

  tick();
  window.setInterval(tick, 1000);
})();
