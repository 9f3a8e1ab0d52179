//! Charts drawn on the server as SVG (no script, no library to load): the geometry is computed
//! here and the templates draw it, so every label goes through the templates' escaping. Each
//! chart's numbers are also given as a table for screen readers and for copying.

/// A column of a column chart (the trend over days).
pub struct ColumnBar {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    /// What the column is (a date), and its value in words, for the tooltip.
    pub label: String,
    pub value: String,
    /// Where a click goes (the rows behind the figure).
    pub href: String,
    /// The axis label under the column (empty: none, to keep the axis readable).
    pub tick: String,
}

pub struct ColumnChart {
    pub width: i64,
    pub height: i64,
    /// Where the plot's baseline is (ticks go under it).
    pub base: i64,
    pub bars: Vec<ColumnBar>,
    /// The top of the scale in words.
    pub max_label: String,
}

/// One column's data: (label, value, value in words, link, tick).
pub type ColumnDatum = (String, i64, String, String, String);

pub const COLUMN_WIDTH: i64 = 720;
const COLUMN_HEIGHT: i64 = 220;
const PLOT_TOP: i64 = 30;
const PLOT_BOTTOM: i64 = 190;

/// Columns scaled to the largest value (a chart of nothing draws empty columns).
pub fn column_chart(data: Vec<ColumnDatum>, max_label: impl Fn(i64) -> String) -> ColumnChart {
    let n = i64::try_from(data.len()).unwrap_or(1).max(1);
    let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let slot = COLUMN_WIDTH / n;
    let plot = PLOT_BOTTOM - PLOT_TOP;
    let bars = (0i64..)
        .zip(data)
        .map(|(i, (label, value, value_text, href, tick))| {
            // At least a pixel for any non-zero day, so that it can be seen and clicked.
            let h = if value > 0 { (value.saturating_mul(plot) / max).max(2) } else { 0 };
            ColumnBar {
                x: i * slot + 2,
                y: PLOT_BOTTOM - h,
                w: (slot - 4).max(1),
                h,
                label,
                value: value_text,
                href,
                tick,
            }
        })
        .collect();
    ColumnChart { width: COLUMN_WIDTH + 24, height: COLUMN_HEIGHT, base: PLOT_BOTTOM, bars, max_label: max_label(max) }
}

/// A row of a bar chart (channels, departments): a label, a bar and its value.
pub struct RowBar {
    pub label: String,
    pub value: String,
    pub href: String,
    /// The bar's length, and the length of what it is out of (0: not drawn).
    pub w: i64,
    pub of_w: i64,
}

/// Drawn as a list: each row's label and value are text that reflows on a phone, its bar a
/// small SVG stretched to the row's width on one scale.
pub struct RowChart {
    /// The scale's full length (the bars' viewBox width).
    pub span: i64,
    pub rows: Vec<RowBar>,
}

/// One row's data: (label, value, out of (0: none), value in words, link).
pub type RowDatum = (String, i64, i64, String, String);

const BAR_SPAN: i64 = 1000;

/// Bars scaled to the largest value or "out of" figure.
pub fn row_chart(data: Vec<RowDatum>) -> RowChart {
    let max = data.iter().map(|d| d.1.max(d.2)).max().unwrap_or(0).max(1);
    let scale = |v: i64| if v > 0 { (v.saturating_mul(BAR_SPAN) / max).max(2) } else { 0 };
    let rows: Vec<RowBar> = data
        .into_iter()
        .map(|(label, value, of, value_text, href)| RowBar {
            label,
            value: value_text,
            href,
            w: scale(value),
            of_w: scale(of),
        })
        .collect();
    RowChart { span: BAR_SPAN, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_scale_to_the_largest_and_show_small_days() {
        let d = |v: i64| (String::new(), v, String::new(), String::new(), String::new());
        let c = column_chart(vec![d(0), d(1), d(1000)], |m| m.to_string());
        assert_eq!(c.bars[0].h, 0);
        assert_eq!(c.bars[1].h, 2, "a small day is still visible");
        assert_eq!(c.bars[2].h, PLOT_BOTTOM - PLOT_TOP);
        assert_eq!(c.bars[2].y, PLOT_TOP);
        assert_eq!(c.max_label, "1000");
        assert!(c.bars.iter().all(|b| b.x + b.w <= COLUMN_WIDTH));
    }

    #[test]
    fn rows_share_one_scale() {
        let r = row_chart(vec![
            ("a".into(), 50, 100, String::new(), String::new()),
            ("b".into(), 100, 0, String::new(), String::new()),
        ]);
        assert_eq!(r.rows[0].of_w, BAR_SPAN);
        assert_eq!(r.rows[0].w, BAR_SPAN / 2);
        assert_eq!(r.rows[1].w, BAR_SPAN);
        assert_eq!(r.rows[1].of_w, 0);
        assert_eq!(r.span, BAR_SPAN);
    }
}
