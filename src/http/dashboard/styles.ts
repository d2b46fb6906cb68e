/** The pages' own stylesheet's name under `{pagesPath}/assets/`, beside underway.css (ASSET_FILES.css). */
export const PAGES_CSS_FILE = 'underway-pages.css';

/**
 * The components' stylesheet, `/assets/underway.css`, for any page that shows
 * `<underway-progress>` or `<underway-indicator>`, the host's own included. Every selector is
 * wholly inside `:where()` and names `underway-progress`, `underway-indicator` or `.uw-progress`
 * (the dashboard's list bars, painted by the same code): it changes no element of the host page,
 * and has no specificity at all, so any rule of the host's wins. The components work without it
 * (the indicator hides its screen-reader list itself); this adds the layout and the colours.
 *
 * Themable with custom properties, set anywhere above the element (`:root` will do):
 * `--underway-accent` (the bar), `--underway-muted` (the caption), `--underway-danger` (the
 * error line), `--underway-bar-height`. The defaults follow the host page's own `color-scheme`
 * (`light-dark()`), not the system's: a page that declares none stays light, and so do they, so
 * a light page on a dark system keeps readable captions (axe found grey on white otherwise).
 */
export const COMPONENTS_CSS = `
:where(underway-progress,underway-indicator,.uw-progress){--uw-accent:var(--underway-accent,#2457c5);
--uw-muted:var(--underway-muted,#5d6068);--uw-danger:var(--underway-danger,#b42318)}
@supports (color:light-dark(#000,#fff)){:where(underway-progress,underway-indicator,.uw-progress){
--uw-accent:var(--underway-accent,light-dark(#2457c5,#7ea6ff));--uw-muted:var(--underway-muted,light-dark(#5d6068,#a3a7b1));
--uw-danger:var(--underway-danger,light-dark(#b42318,#ff8a80))}}
:where(underway-progress,.uw-progress){display:block}
:where(:is(underway-progress,.uw-progress) progress){accent-color:var(--uw-accent);width:100%;height:var(--underway-bar-height,.9rem);vertical-align:middle}
:where(:is(underway-progress,.uw-progress) .uw-caption){display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.9rem;margin-top:.25rem}
:where(:is(underway-progress,.uw-progress) .uw-caption>span:not(.uw-percent)){color:var(--uw-muted)}
:where(:is(underway-progress,.uw-progress) .uw-percent){font-weight:600}
:where(:is(underway-progress,.uw-progress) .uw-message){overflow-wrap:anywhere}
:where(:is(underway-progress,.uw-progress) .uw-caption>span:empty){display:none}
:where(underway-progress .uw-cancel){margin-top:.5rem}
:where(underway-progress .uw-cancel[aria-disabled=true]){opacity:.6;cursor:default}
:where(underway-progress .uw-problem){color:var(--uw-danger);margin:.25rem 0 0}
:where(underway-indicator){font-size:.9rem}
:where(underway-indicator a){text-decoration:none}
:where(underway-indicator .uw-problem){color:var(--uw-danger)}
`;

/**
 * The dashboard pages' own stylesheet, `/assets/underway-pages.css`, linked only by their layout
 * (after underway.css): page-wide rules (`:root`, `body`, `a`, `h1`, `button`…) that must never
 * reach a host's page, which links underway.css alone. Served as a file, not inline: the pages'
 * CSP allows no inline style. Light and dark follow `prefers-color-scheme`; one column on a phone.
 * Bars are native `<progress>` elements, tinted with `accent-color`, so no width is ever set inline.
 */
export const PAGES_CSS = `
:root{color-scheme:light dark;--bg:#f7f7f8;--fg:#1b1c1f;--muted:#5d6068;--card:#fff;--line:#d9dbe0;--accent:#2457c5;
--ok:#17753a;--bad:#b42318;--warn:#9a5b00;--code:#f0f1f4;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#15161a;--fg:#e8e9ec;--muted:#a3a7b1;--card:#1e2026;--line:#343741;
--accent:#7ea6ff;--ok:#5fd38a;--bad:#ff8a80;--warn:#f5b94a;--code:#262932}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg)}
a{color:var(--accent)}
header.uw-top{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--card)}
header.uw-top .uw-brand{font-weight:700;text-decoration:none;color:var(--fg);margin-right:auto}
header.uw-top .uw-user{color:var(--muted);font-size:.9rem}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .6rem}
.uw-card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:0 0 1rem}
.uw-muted{color:var(--muted)}
.uw-status{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.85rem;border:1px solid currentColor;white-space:nowrap}
.uw-status[data-status=succeeded]{color:var(--ok)}.uw-status[data-status=failed]{color:var(--bad)}
.uw-status[data-status=cancelled]{color:var(--warn)}.uw-status[data-status=running]{color:var(--accent)}
.uw-status[data-status=queued]{color:var(--muted)}
pre:empty{display:none}
.uw-card>h2:first-child,.uw-card>h3:first-child{margin-top:0}
details.uw-start>summary{list-style:none;display:inline-block}
details.uw-start>summary::-webkit-details-marker{display:none}
details.uw-start[open]>summary{margin-bottom:.5rem}
.uw-tasks-row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-start}
.uw-tasks-row details[open]{flex:1 1 100%}
table.uw-jobs{width:100%;border-collapse:collapse}
table.uw-jobs th,table.uw-jobs td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line);vertical-align:top}
table.uw-jobs td.uw-when{white-space:nowrap;color:var(--muted);font-size:.9rem}
table.uw-jobs .uw-summary{font-size:.9rem;overflow-wrap:anywhere}
@media (max-width:40rem){table.uw-jobs thead{display:none}table.uw-jobs tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
table.uw-jobs td{display:block;border:0;padding:.2rem .25rem}}
form.uw-filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
form.uw-inline-form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
form.uw-inline-form label{margin:0;font-weight:400}
label{display:block;font-weight:600;font-size:.9rem;margin:.6rem 0 .2rem}
.uw-hint{font-weight:400;color:var(--muted);font-size:.85rem}
input,select,textarea{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:.35rem;padding:.4rem .5rem;max-width:100%}
input[type=text],input[type=password],input[type=number],textarea{width:100%}
input[type=checkbox]{width:auto}
input[aria-invalid=true],textarea[aria-invalid=true],select[aria-invalid=true]{border-color:var(--bad)}
.uw-field-error{color:var(--bad);font-size:.9rem;margin:.2rem 0 0}
button,.uw-button{font:inherit;cursor:pointer;border-radius:.35rem;padding:.45rem .9rem;border:1px solid var(--accent);background:var(--accent);color:var(--card);text-decoration:none;display:inline-block}
button.uw-secondary,.uw-button.uw-secondary{background:transparent;color:var(--accent)}
button.uw-danger{background:transparent;border-color:var(--bad);color:var(--bad)}
button:disabled{opacity:.6;cursor:default}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.uw-actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.uw-actions form{margin:0}
dl.uw-facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dl.uw-facts dt{color:var(--muted)}dl.uw-facts dd{margin:0;overflow-wrap:anywhere}
pre{background:var(--code);padding:.75rem;border-radius:.35rem;overflow:auto;font-size:.85rem;margin:0;max-height:24rem;white-space:pre-wrap;overflow-wrap:anywhere}
.uw-error{border-color:var(--bad)}.uw-error h2{color:var(--bad);margin-top:0}
details summary{cursor:pointer;color:var(--muted)}
.uw-pager{display:flex;gap:1rem;margin:1rem 0}
table.uw-jobs td.uw-select{width:2rem}form#uw-bulk{margin:.75rem 0}
p.uw-notice{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--accent);padding:.5rem .75rem;border-radius:.35rem}
.uw-tasks{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr))}
.uw-tasks .uw-card{margin:0}.uw-tasks h3{margin:0 0 .3rem;font-size:1rem}
.uw-nav{display:flex;gap:.75rem}
.uw-charts{display:grid;gap:1rem;align-items:start;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr))}
figure.uw-chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem;min-width:0}
svg.uw-chart-svg{display:block;width:100%;height:auto}
.uw-chart-grid line{stroke:var(--line)}.uw-chart-grid text{fill:var(--muted);font-size:15px}
.uw-series{fill:none;stroke-width:2.5;stroke-linejoin:round}
.uw-series-started,.uw-series-progress{stroke:var(--accent)}.uw-series-due{stroke:var(--warn)}
.uw-series-running{stroke:var(--accent);stroke-dasharray:2 5;stroke-linecap:round}
h3.uw-log-attempt{font-size:.95rem;margin:.9rem 0 .35rem}h3.uw-log-attempt:first-of-type{margin-top:0}.uw-series-succeeded{stroke:var(--ok)}.uw-series-failed{stroke:var(--bad);stroke-dasharray:6 4}
ul.uw-legend{list-style:none;display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.5rem 0;padding:0;font-size:.9rem}
svg.uw-legend-key{width:1.5rem;height:.5rem;vertical-align:middle;margin-right:.35rem}
table.uw-figures{border-collapse:collapse;width:100%}
table.uw-figures th,table.uw-figures td{padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;text-align:right}
table.uw-figures :is(th:first-child,caption){text-align:left;overflow-wrap:anywhere}
table.uw-figures tbody th{font-weight:400}table.uw-figures td{font-variant-numeric:tabular-nums}
table.uw-figures caption{font-weight:600;padding:.2rem 0}
@media (max-width:40rem){table.uw-figures{font-size:.85rem}table.uw-figures th,table.uw-figures td{padding:.3rem .25rem}
table.uw-figures thead th{font-size:.75rem}table.uw-figures :is(th,td):first-child{min-width:5.5rem}
table.uw-counts thead th+th{writing-mode:vertical-rl;rotate:180deg;text-align:left;vertical-align:bottom}
.uw-chart-grid text{font-size:22px}table.uw-figures .uw-status{border:0;padding:0;font-size:inherit}}
ul.uw-workers{list-style:none;padding:0;margin:0;display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,20rem),1fr))}
ul.uw-workers>li{margin:0}ul.uw-workers h3{margin:0 0 .4rem;font-size:1rem;overflow-wrap:anywhere}
ul.uw-workers>li[data-alive=false]{border-style:dashed}
ul.uw-running{margin:.3rem 0 0;padding-left:1.2rem}
.uw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
ol.uw-attempts{list-style:none;margin:0;padding:0;display:grid;gap:1rem}
ol.uw-attempts>li{border-left:3px solid var(--line);padding-left:.75rem}
ol.uw-attempts>li:is([data-outcome=retry],[data-outcome=stalled],[data-outcome=failed]){border-color:var(--bad)}
ol.uw-attempts>li[data-outcome=succeeded]{border-color:var(--ok)}ol.uw-attempts>li[data-outcome=running]{border-color:var(--accent)}
ol.uw-attempts>li:is([data-outcome=cancelled],[data-outcome=released],[data-outcome=waited]){border-color:var(--warn)}
ol.uw-attempts h3{font-size:1rem;margin:0 0 .4rem}
ol.uw-timeline{margin:0;padding-left:1.5rem}ol.uw-timeline li{margin:.25rem 0;overflow-wrap:anywhere}
dl.uw-result{grid-template-columns:minmax(0,max-content) minmax(0,1fr)}dl.uw-result dt{overflow-wrap:anywhere}
p.uw-result-text{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.uw-table-scroll{overflow-x:auto;max-width:100%}
table.uw-result-table{border-collapse:collapse}
table.uw-result-table th,table.uw-result-table td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
details.uw-raw{margin-top:.75rem}details.uw-raw>summary{margin-bottom:.4rem}
`;
