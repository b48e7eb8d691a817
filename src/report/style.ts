/** The report's stylesheet: system fonts, light and dark from the OS setting, cards that reflow on narrow screens. */
export const REPORT_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f4f5f8; --card: #ffffff; --fg: #1b2130; --muted: #626b7f; --border: #e3e6ed;
  --accent: #4f46e5; --grid: rgba(27, 33, 48, 0.08); --axis: #626b7f;
  --domain-a: #2563eb; --domain-b: #ea580c;
  --c0: #2563eb; --c1: #ea580c; --c2: #16a34a; --c3: #9333ea; --c4: #0891b2; --c5: #db2777; --c6: #ca8a04; --c7: #475569;
  --ok: #15803d; --ok-bg: #dcfce7; --run: #1d4ed8; --run-bg: #dbeafe; --stop: #b45309; --stop-bg: #fef3c7;
  --shadow: 0 1px 2px rgba(16, 24, 40, 0.06), 0 1px 3px rgba(16, 24, 40, 0.08);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1016; --card: #161a23; --fg: #e7e9ef; --muted: #9aa3b5; --border: #262b38;
    --accent: #818cf8; --grid: rgba(231, 233, 239, 0.08); --axis: #9aa3b5;
    --domain-a: #60a5fa; --domain-b: #fb923c;
    --c0: #60a5fa; --c1: #fb923c; --c2: #4ade80; --c3: #c084fc; --c4: #22d3ee; --c5: #f472b6; --c6: #facc15; --c7: #94a3b8;
    --ok: #4ade80; --ok-bg: rgba(74, 222, 128, 0.12); --run: #93c5fd; --run-bg: rgba(96, 165, 250, 0.15);
    --stop: #fbbf24; --stop-bg: rgba(251, 191, 36, 0.12); --shadow: none;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1280px; margin: 0 auto; padding: 24px 20px 48px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Roboto Mono", monospace; font-size: 12.5px; }
header.run { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; margin-bottom: 6px; }
header.run h1 { font-size: 24px; margin: 0; letter-spacing: -0.01em; }
.brand { color: var(--muted); font-weight: 500; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12.5px; }
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.pill.finished { color: var(--ok); background: var(--ok-bg); }
.pill.running { color: var(--run); background: var(--run-bg); }
.pill.running::before { animation: pulse 1.6s ease-in-out infinite; }
.pill.stopped { color: var(--stop); background: var(--stop-bg); }
@keyframes pulse { 50% { opacity: 0.25; } }
.facts { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); margin: 0 0 18px; padding: 0; list-style: none; }
.facts b { color: var(--fg); font-weight: 600; }
.reason { color: var(--stop); margin: -10px 0 16px; }
.live { margin-left: auto; color: var(--muted); font-size: 12.5px; display: flex; gap: 10px; align-items: center; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(108px, 1fr)); gap: 10px; margin-bottom: 16px; }
.stats-title { font-size: 12.5px; font-weight: 600; margin: 0 0 6px; }
.stats-title span { color: var(--muted); font-weight: 400; margin-left: 6px; }
.stat { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 10px 12px; box-shadow: var(--shadow); }
.stat .k { color: var(--muted); font-size: 12px; }
.stat .v { font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat.metric .v { color: var(--accent); }
section { margin-top: 26px; }
section > h2 { font-size: 16px; margin: 0 0 10px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
section > h2 .hint { color: var(--muted); font-weight: 400; font-size: 12.5px; }
#metrics-table tr.best td { font-weight: 700; background: var(--best-row, rgba(80, 160, 90, 0.12)); }
.controls { margin-left: auto; display: flex; align-items: center; gap: 8px; font-weight: 400; font-size: 12.5px; color: var(--muted); }
.controls input[type=range] { width: 120px; accent-color: var(--accent); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 12px; padding: 14px 16px; box-shadow: var(--shadow); min-width: 0; }
.card h3 { font-size: 13.5px; margin: 0 0 6px; font-weight: 600; }
.chart { width: 100%; min-height: 250px; }
.empty { color: var(--muted); padding: 18px 4px; }
.latest { display: grid; grid-template-columns: minmax(0, 1fr); gap: 8px; }
.sample-frame { max-width: var(--max-w, 100%); }
.sample-columns { display: grid; grid-template-columns: repeat(6, 1fr); text-align: center; color: var(--muted); font-size: 12px; margin-bottom: 4px; }
.latest img { display: block; width: 100%; height: auto; border-radius: 6px; image-rendering: pixelated; background: var(--grid); }
.caption { color: var(--muted); font-size: 12.5px; }
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.thumbs figure { margin: 0; background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 8px; box-shadow: var(--shadow); }
.thumbs img { display: block; width: 100%; height: auto; border-radius: 4px; image-rendering: pixelated; }
.thumbs figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--border); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12.5px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group th { color: var(--fg); font-weight: 600; padding-top: 12px; }
tr.changed td:nth-child(2) { font-weight: 600; color: var(--accent); }
.option-groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 290px), 1fr)); gap: 6px 22px; align-items: start; }
.option-groups h4 { font-size: 12.5px; margin: 10px 0 2px; }
.option-groups td { padding: 3px 6px; }
.card h3 .hint { color: var(--muted); font-weight: 400; font-size: 12px; margin-left: 6px; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); gap: 14px; align-items: start; }
.scroll { overflow-x: auto; }
details summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 36px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--border); padding-top: 12px; }
.uplot { font-family: inherit; }
.u-legend { font-size: 12px; color: var(--fg); }
.u-legend .u-marker { border-radius: 2px; }
@media (max-width: 600px) { main { padding: 14px 10px 32px; } .live { margin-left: 0; } }
`;
