/*
 * report.c - index.html and metrics.prom, rendered from the store.
 *
 * index.html is one self-contained page: inline CSS, SVG drawn here (so
 * that the charts are there with JavaScript off) and a small inline script
 * that only sorts, filters and shows times in the reader's zone. Every
 * string from the store is HTML-escaped and cut to a bounded length; the
 * script reads the table from the DOM, so no store data is ever inside a
 * <script>. metrics.prom is the Prometheus text format, from counts and the
 * store's duration aggregates.
 *
 * Left out: escaping, times as text and the args' quoting (report_text.c),
 * the cache that keeps a rendering and its time (report_cache.c), FUSE
 * (fs/node.c and fs/ops.c serve these), and anything fetched from the
 * network (a Content-Security-Policy forbids it, too).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "report_row.h"
#include "report_text.h"

/* The outcomes' colors, shared by the table, the charts and the legends. */
static const char *const report_colors[STORE_OUTCOMES] = {
	[STORE_RUNNING] = "#2f6fdb",
	[STORE_SUCCESS] = "#1f883d",
	[STORE_ERROR] = "#d1242f",
	[STORE_PARTIAL] = "#c77c02",
};

/* --- index.html --- */

/* One finished execution on the durations chart. */
struct report_point {
	int64_t started_ms;
	int64_t duration_ms;
	int outcome;
	int64_t row; /* its row in the table, for the tooltip */
};


/* Where a failed run's last lines go in the rows' text, and what to read for them. */
struct report_tail_at {
	size_t at;
	int64_t id;
	int64_t output_bytes;
};

struct report_page {
	struct text_buf rows;      /* the table's <tr>s */
	struct text_buf args;      /* one row's args as a command line, before escaping */
	struct report_point *points; /* finished ones, REPORT_HTML_ROWS at most */
	struct report_tail_at *tails; /* failed ones with output, REPORT_HTML_ROWS at most */
	size_t npoints, nrows, ntails;
};

/*
 * One row of the table (report_row.c). An outcome outside the four (a row
 * another program wrote) is left off the charts, which count the four
 * only. A failed run's output is read after the listing (report_html_table),
 * never inside it: a backend may hold its listing open meanwhile.
 */
static int report_add_row(void *ctx, const struct store_record *rec)
{
	struct report_page *pg = ctx;
	int outcome = store_outcome_from_name(rec->outcome);
	bool has_duration = rec->duration_ms != STORE_NULL && outcome != STORE_RUNNING;
	size_t tail_at;

	report_row(&pg->rows, &pg->args, rec, &tail_at);
	if (tail_at != SIZE_MAX && pg->ntails < REPORT_HTML_ROWS)
		pg->tails[pg->ntails++] = (struct report_tail_at){
			.at = tail_at, .id = rec->id, .output_bytes = rec->output_bytes,
		};
	if (has_duration && outcome > STORE_RUNNING && pg->npoints < REPORT_HTML_ROWS)
		pg->points[pg->npoints++] = (struct report_point){
			.started_ms = report_started_ms(rec), .duration_ms = rec->duration_ms,
			.outcome = outcome, .row = (int64_t)pg->nrows,
		};
	pg->nrows++;
	return pg->rows.failed || pg->args.failed ? -ENOMEM : 0;
}

static const char report_style[] =
	"<style>\n"
	":root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#ffffff;--panel:#f6f8fa;"
	"--running:#2f6fdb;--success:#1f883d;--error:#d1242f;--partial:#c77c02}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\","
	"\"DejaVu Sans\",sans-serif;color:var(--fg);background:var(--bg)}\n"
	"header{padding:18px 28px 10px;border-bottom:1px solid var(--line);background:var(--panel)}\n"
	"h1{margin:0 0 4px;font-size:22px;font-weight:600}\n"
	"h2{margin:0 0 8px;font-size:15px;font-weight:600}\n"
	"main{padding:16px 28px 40px}\n"
	".sub{color:var(--muted)}\n"
	".cards{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0 4px}\n"
	".card{border:1px solid var(--line);border-radius:8px;padding:6px 14px;background:var(--bg);"
	"min-width:110px}\n"
	".card b{display:block;font-size:20px;font-variant-numeric:tabular-nums}\n"
	".card span{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}\n"
	".card.running b{color:var(--running)}.card.success b{color:var(--success)}"
	".card.error b{color:var(--error)}.card.partial b{color:var(--partial)}\n"
	".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px;"
	"margin-bottom:18px}\n"
	"figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:12px 14px}\n"
	"svg{width:100%;height:auto;display:block;font:11px system-ui,sans-serif}\n"
	"svg .axis{stroke:var(--line)}svg .lbl{fill:var(--muted)}svg .empty{fill:var(--muted);"
	"font-size:14px}\n"
	".legend{display:flex;gap:14px;margin-top:6px;color:var(--muted);font-size:12px}\n"
	".legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;"
	"vertical-align:-1px}\n"
	".tools{display:flex;gap:12px;align-items:center;margin:6px 0 10px}\n"
	"#filter{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:6px;"
	"width:min(420px,100%)}\n"
	"table{border-collapse:collapse;width:100%}\n"
	"th,td{text-align:left;padding:5px 6px;border-bottom:1px solid var(--line);vertical-align:top}\n"
	"th{position:sticky;top:0;background:var(--panel);font-weight:600;white-space:nowrap;"
	"user-select:none}\n"
	"th.sortable{cursor:pointer}th.sortable:after{content:\" \\2195\";color:var(--muted)}\n"
	"th[aria-sort=ascending]:after{content:\" \\2191\"}th[aria-sort=descending]:after{content:\" \\2193\"}\n"
	"tbody tr:hover{background:var(--panel)}\n"
	"td.id{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:13px}\n"
	"td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	"td time{white-space:nowrap}\n"
	"td.id a{color:inherit;text-decoration:none;border-bottom:1px dotted var(--muted)}"
	"td.id a:hover{color:var(--running);border-bottom-style:solid}\n"
	"td.who{max-width:10em;overflow-wrap:anywhere}\n"
	"td.args{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:12px;"
	"overflow-wrap:anywhere;min-width:8em;max-width:24em}\n"
	"td.tags{min-width:6em;max-width:11em}\n"
	".tag{display:inline-block;max-width:100%;overflow:hidden;text-overflow:ellipsis;"
	"white-space:nowrap;vertical-align:top;margin:1px 0;padding:0 7px;border:1px solid var(--line);"
	"border-radius:10px;background:var(--panel);font-size:12px}\n"
	".tag .k{color:var(--muted)}.tag.more{color:var(--muted);background:none}\n"
	"td.err{color:var(--error);overflow-wrap:anywhere;min-width:14em;max-width:30em}\n"
	"pre.tail{margin:4px 0 0;padding:3px 6px;border-left:3px solid var(--error);"
	"background:var(--panel);color:var(--fg);font:11px/1.35 ui-monospace,\"DejaVu Sans Mono\","
	"monospace;white-space:pre-wrap;overflow-wrap:anywhere}\n"
	".badge{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-size:12px;"
	"font-weight:600}\n"
	".o-running .badge{background:var(--running)}.o-success .badge{background:var(--success)}"
	".o-error .badge{background:var(--error)}.o-partial .badge{background:var(--partial)}"
	".o-other .badge{background:var(--muted)}\n"
	".muted{color:var(--muted)}\n"
	".empty-state{padding:30px;text-align:center;color:var(--muted);border:1px dashed var(--line);"
	"border-radius:8px}\n"
	"</style>\n";

/*
 * The script: static text, never store data. It sorts by a column's
 * data-v (numbers) or text, filters rows by a text box, and shows every
 * <time data-t> and SVG label data-t in the reader's local time.
 */
static const char report_script[] =
	"<script>\n"
	"(function(){\n"
	"'use strict';\n"
	"function pad(n){return (n<10?'0':'')+n;}\n"
	"function local(ms,short){var d=new Date(ms);if(isNaN(d.getTime()))return null;"
	"var day=d.getFullYear()+'-'+pad(d.getMonth()+1)+"
	"'-'+pad(d.getDate());if(short)return pad(d.getMonth()+1)+'-'+pad(d.getDate())+' '+"
	"pad(d.getHours())+':'+pad(d.getMinutes());return day+' '+pad(d.getHours())+':'+"
	"pad(d.getMinutes())+':'+pad(d.getSeconds());}\n"
	"var zone='';try{zone=Intl.DateTimeFormat().resolvedOptions().timeZone||'';}catch(e){}\n"
	"document.querySelectorAll('time[data-t]').forEach(function(t){var ms=+t.getAttribute('data-t');"
	"var l=local(ms,false);if(l===null)return;t.title=t.textContent;t.textContent=l;});\n"
	"document.querySelectorAll('svg text[data-t]').forEach(function(t){"
	"var l=local(+t.getAttribute('data-t'),true);if(l!==null)t.textContent=l;});\n"
	"var z=document.getElementById('zone');if(z)z.textContent='Times in '+(zone||'local time')+'.';\n"
	"var table=document.getElementById('runs');if(!table)return;\n"
	"var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);\n"
	"var count=document.getElementById('shown'),input=document.getElementById('filter');\n"
	"input.hidden=false;\n"
	"function key(r,i){var c=r.cells[i],v=c.getAttribute('data-v');return v!==null?+v:"
	"c.textContent.toLowerCase();}\n"
	"var ths=table.tHead.rows[0].cells;\n"
	"Array.prototype.forEach.call(ths,function(th,i){th.classList.add('sortable');th.tabIndex=0;"
	"function sort(){var asc=th.getAttribute('aria-sort')!=='ascending';"
	"Array.prototype.forEach.call(ths,function(o){o.removeAttribute('aria-sort');});"
	"th.setAttribute('aria-sort',asc?'ascending':'descending');"
	"rows.sort(function(a,b){var x=key(a,i),y=key(b,i);return (x<y?-1:x>y?1:0)*(asc?1:-1);});"
	"rows.forEach(function(r){body.appendChild(r);});}\n"
	"th.addEventListener('click',sort);th.addEventListener('keydown',function(e){"
	"if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});});\n"
	"function filter(){var q=input.value.trim().toLowerCase(),n=0;rows.forEach(function(r){"
	"var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!hit;if(hit)n++;});"
	"count.textContent=n+' of '+rows.length+' shown';}\n"
	"input.addEventListener('input',filter);filter();\n"
	"})();\n"
	"</script>\n";

static void report_legend(struct text_buf *b, bool with_running)
{
	text_add_str(b, "<div class=\"legend\">");
	for (int o = with_running ? STORE_RUNNING : STORE_SUCCESS; o < STORE_OUTCOMES; o++)
		text_printf(b, "<span><i style=\"background:%s\"></i>%s</span>", report_colors[o],
			      store_outcome_name(o));
	text_add_str(b, "</div>");
}

/* The chart's plot area in SVG units: 720 x 240 with room for axes. */
#define CH_W 720
#define CH_H 240
#define CH_L 64
#define CH_R 12
#define CH_T 12
#define CH_B 28

/* @v as an int64, held within the range (a time label near the ends of it). */
static int64_t report_int64_of(double v)
{
	if (!(v > -9.2e18))
		return -9200000000000000000;
	if (v >= 9.2e18)
		return 9200000000000000000;
	return (int64_t)v;
}

/* Where the durations chart puts its points: times across, log10 of durations up. */
struct report_scale {
	double tmin, tmax; /* ms, as doubles: any two int64 starts have a difference */
	double lmin, lmax; /* log10 of the shortest and longest duration, rounded out */
	double pw, ph;     /* the plot area */
};

static struct report_scale report_scatter_scale(const struct report_page *pg)
{
	struct report_scale sc = { INFINITY, -INFINITY, 0, 0, CH_W - CH_L - CH_R, CH_H - CH_T - CH_B };
	int64_t dmin = INT64_MAX, dmax = 1;

	for (size_t i = 0; i < pg->npoints; i++) {
		const struct report_point *p = &pg->points[i];
		int64_t d = p->duration_ms < 1 ? 1 : p->duration_ms;

		sc.tmin = fmin(sc.tmin, (double)p->started_ms);
		sc.tmax = fmax(sc.tmax, (double)p->started_ms);
		dmin = d < dmin ? d : dmin;
		dmax = d > dmax ? d : dmax;
	}
	if (sc.tmax - sc.tmin < 60000) {
		sc.tmin -= 30000;
		sc.tmax += 30000;
	}
	sc.lmin = floor(log10((double)dmin));
	sc.lmax = ceil(log10((double)dmax));
	if (sc.lmax - sc.lmin < 1)
		sc.lmax = sc.lmin + 1;
	return sc;
}

/* The durations axis: a label and a grid line per tick in range. */
static void report_scatter_y_axis(struct text_buf *b, const struct report_scale *sc)
{
	static const int64_t ticks[] = { 1, 10, 100, 1000, 10000, 60000, 600000, 3600000, 36000000 };

	for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
		double l = log10((double)ticks[i]), y;
		char label[64];

		if (l < sc->lmin - 1e-9 || l > sc->lmax + 1e-9)
			continue;
		y = CH_T + sc->ph - (l - sc->lmin) / (sc->lmax - sc->lmin) * sc->ph;
		report_duration_text(ticks[i], label, sizeof(label));
		if (ticks[i] >= 1000 && ticks[i] < 60000)
			snprintf(label, sizeof(label), "%" PRId64 " s", ticks[i] / 1000);
		else if (ticks[i] >= 60000 && ticks[i] < 3600000)
			snprintf(label, sizeof(label), "%" PRId64 " min", ticks[i] / 60000);
		else if (ticks[i] >= 3600000)
			snprintf(label, sizeof(label), "%" PRId64 " h", ticks[i] / 3600000);
		text_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
			    "stroke-dasharray=\"2 3\"/><text class=\"lbl\" x=\"%d\" y=\"%.1f\" "
			    "text-anchor=\"end\">%s</text>",
			    CH_L, y, CH_W - CH_R, y, CH_L - 6, y + 4, label);
	}
}

/* The time axis: four labels, in UTC (the script shows them in local time). */
static void report_scatter_x_axis(struct text_buf *b, const struct report_scale *sc)
{
	for (int i = 0; i < 4; i++) {
		int64_t t = report_int64_of(sc->tmin + (sc->tmax - sc->tmin) * i / 3);
		double x = CH_L + sc->pw * i / 3;
		char label[64];

		report_utc(t / 1000, UTC_SHORT, label, sizeof(label));
		text_printf(b, "<text class=\"lbl\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" "
			    "data-t=\"%" PRId64 "\">%s</text>",
			    x, CH_H - 8, i == 0 ? "start" : i == 3 ? "end" : "middle", t, label);
	}
}

static void report_scatter_points(struct text_buf *b, const struct report_page *pg,
				  const struct report_scale *sc)
{
	for (size_t i = 0; i < pg->npoints; i++) {
		const struct report_point *p = &pg->points[i];
		int64_t d = p->duration_ms < 1 ? 1 : p->duration_ms;
		double x = CH_L + sc->pw * ((double)p->started_ms - sc->tmin) / (sc->tmax - sc->tmin);
		double y = CH_T + sc->ph - (log10((double)d) - sc->lmin) / (sc->lmax - sc->lmin) * sc->ph;
		char dur[32];

		report_duration_text(p->duration_ms, dur, sizeof(dur));
		text_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" "
			    "fill-opacity=\"0.8\"><title>%s, %s</title></circle>",
			    x, y, report_colors[p->outcome], store_outcome_name(p->outcome), dur);
	}
}

/* Durations over time: a point per finished execution, log scale. */
static void report_scatter(struct text_buf *b, const struct report_page *pg)
{
	struct report_scale sc;

	text_printf(b, "<figure id=\"durations\"><h2>Duration of each run</h2>"
		    "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"Duration of each run over time\">",
		    CH_W, CH_H);
	if (pg->npoints == 0) {
		text_printf(b, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
			    "No finished runs yet</text></svg>", CH_W / 2, CH_H / 2);
		report_legend(b, false);
		text_add_str(b, "</figure>\n");
		return;
	}
	sc = report_scatter_scale(pg);
	text_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", CH_L,
		    CH_H - CH_B, CH_W - CH_R, CH_H - CH_B);
	report_scatter_y_axis(b, &sc);
	report_scatter_x_axis(b, &sc);
	report_scatter_points(b, pg, &sc);
	text_add_str(b, "</svg>");
	report_legend(b, false);
	text_add_str(b, "</figure>\n");
}

/* Outcome counts of each of the last REPORT_HTML_DAYS UTC days, and the most runs in one. */
static int report_days_count(struct store *s, int64_t today,
			     uint64_t counts[REPORT_HTML_DAYS][STORE_OUTCOMES], uint64_t *most)
{
	int err = 0;

	*most = 0;
	for (int d = 0; d < REPORT_HTML_DAYS && err == 0; d++) {
		struct store_filter f = { .outcome = -1, .day = today - (REPORT_HTML_DAYS - 1) + d };
		uint64_t total = 0;

		/* One pass over each day, not one per outcome. */
		err = store_count_outcomes(s, &f, counts[d]);
		for (int o = 0; o < STORE_OUTCOMES; o++)
			total += counts[d][o];
		*most = total > *most ? total : *most;
	}
	return err;
}

/* The stacked bars, under a round top: 2, 4, 10 or 20 times a power of ten, even. */
static void report_days_bars(struct text_buf *b, int64_t today,
			     uint64_t counts[REPORT_HTML_DAYS][STORE_OUTCOMES], uint64_t most)
{
	static const int order[] = { STORE_SUCCESS, STORE_PARTIAL, STORE_ERROR, STORE_RUNNING };
	double pw = CH_W - CH_L - CH_R, ph = CH_H - CH_T - CH_B, bw = pw / REPORT_HTML_DAYS;
	uint64_t top = 2;

	for (uint64_t pow = 1; top < most; pow *= 10)
		top = most <= 2 * pow ? 2 * pow : most <= 4 * pow ? 4 * pow : most <= 10 * pow ? 10 * pow : 20 * pow;
	for (int i = 0; i <= 2; i++) {
		double y = CH_T + ph - ph * i / 2;

		text_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
			    "stroke-dasharray=\"2 3\"/><text class=\"lbl\" x=\"%d\" y=\"%.1f\" "
			    "text-anchor=\"end\">%" PRIu64 "</text>",
			    CH_L, y, CH_W - CH_R, y, CH_L - 6, y + 4, top * (uint64_t)i / 2);
	}
	for (int d = 0; d < REPORT_HTML_DAYS; d++) {
		double x = CH_L + bw * d + bw * 0.15, y = CH_T + ph;
		char day[64];

		report_utc((today - (REPORT_HTML_DAYS - 1) + d) * 86400, UTC_DAY, day, sizeof(day));
		for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
			uint64_t n = counts[d][order[k]];
			double h = ph * (double)n / (double)top;

			if (n == 0)
				continue;
			y -= h;
			text_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				    "fill=\"%s\"><title>%s: %" PRIu64 " %s</title></rect>",
				    x, y, bw * 0.7, h, report_colors[order[k]], day, n,
				    store_outcome_name(order[k]));
		}
	}
}

/* Outcome counts per UTC day, stacked, for the last REPORT_HTML_DAYS days. */
static int report_days(struct text_buf *b, struct store *s, int64_t today)
{
	uint64_t counts[REPORT_HTML_DAYS][STORE_OUTCOMES], most;
	double bw = (double)(CH_W - CH_L - CH_R) / REPORT_HTML_DAYS;
	int err = report_days_count(s, today, counts, &most);

	if (err)
		return err;
	text_printf(b, "<figure id=\"per-day\"><h2>Runs per day (UTC), last %d days</h2>"
		    "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"Outcomes per day\">",
		    REPORT_HTML_DAYS, CH_W, CH_H);
	text_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", CH_L,
		    CH_H - CH_B, CH_W - CH_R, CH_H - CH_B);
	if (most == 0)
		text_printf(b, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
			    "No runs in the last %d days</text>", CH_W / 2, CH_H / 2, REPORT_HTML_DAYS);
	else
		report_days_bars(b, today, counts, most);
	for (int d = 0; d < REPORT_HTML_DAYS; d += 7) {
		int at = REPORT_HTML_DAYS - 1 - d; /* today, and a week before each */
		char day[64];

		report_utc((today - d) * 86400, UTC_MONTH_DAY, day, sizeof(day));
		text_printf(b, "<text class=\"lbl\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
			    CH_L + bw * at + bw / 2, CH_H - 8, day);
	}
	text_add_str(b, "</svg>");
	report_legend(b, true);
	text_add_str(b, "</figure>\n");
	return 0;
}

/* The page down to the charts: the head, the style, the totals and a card per outcome. */
static void report_html_head(struct text_buf *b, const uint64_t counts[STORE_OUTCOMES],
			     size_t nrows)
{
	uint64_t total = 0;

	for (int o = 0; o < STORE_OUTCOMES; o++)
		total += counts[o];
	text_add_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		     "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
		     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		     "<title>execlogfs: execution log</title>\n");
	text_add_str(b, report_style);
	text_add_str(b, "</head><body>\n<header><h1>Execution log</h1><div class=\"sub\">");
	/* Nothing here says when it was made: the page changes only with the log (and at midnight). */
	text_printf(b, "%" PRIu64 " execution%s; the table shows the most recent %zu. "
		    "<span id=\"zone\">Times in UTC.</span></div>\n<div class=\"cards\">",
		    total, total == 1 ? "" : "s", nrows);
	for (int o = 0; o < STORE_OUTCOMES; o++)
		text_printf(b, "<div class=\"card %s\"><b>%" PRIu64 "</b><span>%s</span></div>",
			    store_outcome_name(o), counts[o], store_outcome_name(o));
	text_add_str(b, "</div></header>\n<main>\n<div class=\"charts\">\n");
}

/* The table of the rows report_add_row() made, each failed run's last lines read in; or a word on how to start one. */
static int report_html_table(struct text_buf *b, struct store *s, const struct report_page *pg)
{
	size_t from = 0;
	int err = 0;

	if (pg->nrows == 0) {
		text_add_str(b, "<div class=\"empty-state\" id=\"no-runs\">No executions yet. Start one "
			     "by creating a file in <code>new/</code>, or with <code>execlog-run</code>."
			     "</div>\n");
		return 0;
	}
	text_add_str(b, "<div class=\"tools\"><input id=\"filter\" type=\"search\" hidden "
		     "placeholder=\"Filter: any text, e.g. a host, a user or a tag\" "
		     "aria-label=\"Filter the table\"><span id=\"shown\" class=\"muted\"></span></div>\n"
		     "<table id=\"runs\"><thead><tr><th>execution_id</th><th>outcome</th>"
		     "<th>started</th><th>duration</th><th>host</th><th>user</th>"
		     "<th>tool_version</th><th>args</th><th>tags</th>"
		     "<th>error message</th></tr></thead>\n<tbody>\n");
	/* One read per failed row shown, spliced in where its row left room. */
	for (size_t i = 0; i < pg->ntails && err == 0; i++) {
		text_add(b, pg->rows.data + from, pg->tails[i].at - from);
		from = pg->tails[i].at;
		err = report_tail(s, pg->tails[i].id, pg->tails[i].output_bytes, b);
	}
	text_add(b, pg->rows.data + from, pg->rows.len - from);
	text_add_str(b, "</tbody></table>\n");
	return err;
}

int report_html(struct store *s, int64_t now_ms, char **out, size_t *len)
{
	struct report_page pg = { 0 };
	struct text_buf b = { 0 };
	uint64_t counts[STORE_OUTCOMES] = { 0 };
	int err;

	*out = NULL;
	*len = 0;
	err = report_counts(s, counts);
	pg.points = calloc(REPORT_HTML_ROWS, sizeof(*pg.points));
	pg.tails = calloc(REPORT_HTML_ROWS, sizeof(*pg.tails));
	if (err == 0 && (pg.points == NULL || pg.tails == NULL))
		err = -ENOMEM;
	if (err == 0)
		err = store_list_recent(s, REPORT_HTML_ROWS, report_add_row, &pg);
	if (err)
		goto out;
	report_html_head(&b, counts, pg.nrows);
	report_scatter(&b, &pg);
	err = report_days(&b, s, now_ms / 1000 / 86400);
	if (err)
		goto out;
	text_add_str(&b, "</div>\n");
	err = report_html_table(&b, s, &pg);
	if (err)
		goto out;
	text_add_str(&b, "</main>\n");
	text_add_str(&b, report_script);
	text_add_str(&b, "</body></html>\n");
	if (b.failed || pg.rows.failed)
		err = -ENOMEM;
out:
	free(pg.points);
	free(pg.tails);
	free(pg.rows.data);
	free(pg.args.data);
	if (err) {
		free(b.data);
		return err;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}

/* --- metrics.prom --- */

/* Appends a label value escaped as the text format wants: \\, \" and \n. */
static void report_label(struct text_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			text_add_str(b, "\\\\");
		else if (*v == '"')
			text_add_str(b, "\\\"");
		else if (*v == '\n')
			text_add_str(b, "\\n");
		else
			text_add(b, v, 1);
	}
}

/* The latest start in seconds: to the ms where an int64 of ms holds it, else started_at as written. */
static void report_latest_start(struct text_buf *b, const struct store_record *latest)
{
	if (latest->started_at > INT64_MAX / 1000 || latest->started_at < INT64_MIN / 1000)
		text_printf(b, "%" PRId64, latest->started_at);
	else
		report_seconds(b, report_started_ms(latest));
}

/* The duration histogram: cumulative buckets, their sum and count. */
static void report_histogram(struct text_buf *b, const struct store_summary *sum)
{
	uint64_t cumulative = 0;

	text_add_str(b, "# HELP execlog_duration_seconds How long finished executions ran.\n"
		     "# TYPE execlog_duration_seconds histogram\n");
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++) {
		char le[32];

		cumulative += sum->finished[i];
		if (i < STORE_DURATION_BUCKETS - 1)
			snprintf(le, sizeof(le), "%g", (double)store_duration_bounds_ms[i] / 1000);
		else
			snprintf(le, sizeof(le), "+Inf");
		text_add_str(b, "execlog_duration_seconds_bucket{le=\"");
		report_label(b, le);
		text_printf(b, "\"} %" PRIu64 "\n", cumulative);
	}
	text_add_str(b, "execlog_duration_seconds_sum ");
	report_seconds(b, sum->duration_sum_ms);
	text_printf(b, "\nexeclog_duration_seconds_count %" PRIu64 "\n", cumulative);
}

/* The gauges: executions by outcome, running, the latest start and finish. */
static void report_gauges(struct text_buf *b, const uint64_t counts[STORE_OUTCOMES],
			  const struct store_record *latest, const struct store_summary *sum)
{
	text_add_str(b, "# HELP execlog_executions Executions in the log, by outcome.\n"
		     "# TYPE execlog_executions gauge\n");
	for (int o = 0; o < STORE_OUTCOMES; o++) {
		text_add_str(b, "execlog_executions{outcome=\"");
		report_label(b, store_outcome_name(o));
		text_printf(b, "\"} %" PRIu64 "\n", counts[o]);
	}
	text_printf(b, "# HELP execlog_running Executions running now.\n"
		    "# TYPE execlog_running gauge\n"
		    "execlog_running %" PRIu64 "\n", counts[STORE_RUNNING]);
	text_add_str(b, "# HELP execlog_last_start_timestamp_seconds When the most recently "
		     "started execution started (0: none yet).\n"
		     "# TYPE execlog_last_start_timestamp_seconds gauge\n"
		     "execlog_last_start_timestamp_seconds ");
	report_latest_start(b, latest);
	text_printf(b, "\n# HELP execlog_last_finish_timestamp_seconds When the latest finish "
		    "happened (0: none yet).\n"
		    "# TYPE execlog_last_finish_timestamp_seconds gauge\n"
		    "execlog_last_finish_timestamp_seconds %" PRId64 "\n",
		    sum->last_finished_at == STORE_NULL ? 0 : sum->last_finished_at);
}

int report_metrics(struct store *s, char **out, size_t *len)
{
	struct store_summary sum;

	return report_metrics_with(s, out, len, &sum);
}

int report_metrics_with(struct store *s, char **out, size_t *len, struct store_summary *sum)
{
	struct store_record latest = { 0 };
	struct text_buf b = { 0 };
	uint64_t counts[STORE_OUTCOMES];
	int err;

	*out = NULL;
	*len = 0;
	err = report_counts(s, counts);
	if (err == 0)
		err = store_summary(s, sum);
	if (err == 0) {
		err = store_latest(s, &latest);
		if (err == -ENOENT) {
			err = 0;
			latest.started_ms = 0;
		}
	}
	if (err)
		goto out;
	report_gauges(&b, counts, &latest, sum);
	report_histogram(&b, sum);
	if (b.failed)
		err = -ENOMEM;
out:
	store_record_clear(&latest);
	if (err) {
		free(b.data);
		return err;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}
