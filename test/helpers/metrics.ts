/** A coordinator's /metrics, read as Prometheus text: one sample's value. */
export async function scrape(url: string): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return (name, labels = {}) => {
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const got = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
      if (got === want) return Number(m[3]);
    }
    return undefined;
  };
}
