// ┌──────────────────────────────────────────────────────────────────────────────┐
// │ PLACE FOR METRICS AND EXPERIMENTS (not built yet).                            │
// │ They come with the DVC-style pipelines issue (dv metrics / dv params / dv exp),│
// │ which is not merged yet. When it is: add /ui/api/metrics and                  │
// │ /ui/api/experiments in src/ui/handler.ts (their stub is there), and here a    │
// │ sortable experiments table (params + metrics) and plots of a metric over     │
// │ commits or experiments, drawn with a chart library (uPlot or Chart.js).      │
// └──────────────────────────────────────────────────────────────────────────────┘
export function MetricsPage() {
  return (
    <>
      <h2>Metrics and experiments</h2>
      <p class="muted" data-testid="metrics-placeholder">
        Not available yet: metrics, params and experiments arrive with dv's DVC-style pipeline commands.
        This page will list experiments with their params and metrics and plot a metric over commits.
      </p>
    </>
  );
}
