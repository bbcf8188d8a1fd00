// The dv console page: a header with the sections, the page for the current #route,
// and the login form whenever the server says there is no session.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, onUnauthorized, post } from './api';
import { DagPage } from './pages/Dag';
import { DiffPage } from './pages/Diff';
import { ExperimentsPage } from './pages/Experiments';
import { FileView } from './pages/File';
import { Tree } from './pages/Files';
import { LineagePage } from './pages/Lineage';
import { Login } from './pages/Login';
import { MetricsPage } from './pages/Metrics';
import { RunPage } from './pages/Run';
import { Runs } from './pages/Runs';
import { Versions } from './pages/Versions';
import { href, refPath, useRoute, type Route } from './route';
import './style.css';

interface Session { user: string | null; read: string[]; anonymous: boolean; loggedIn: boolean }

const SECTIONS: [string, string][] = [['versions', 'Versions'], ['diff', 'Diff'], ['runs', 'Runs'], ['dag', 'DAG'], ['lineage', 'Lineage'], ['metrics', 'Metrics'], ['experiments', 'Experiments']];

function Page(p: { r: Route }) {
  const { page, parts, query } = p.r;
  const q = (k: string): string | undefined => query.get(k) ?? undefined;
  switch (page) {
    case 'tree': { const x = refPath(parts); return <Tree key={`${x.ref}:${x.path}`} refName={x.ref} path={x.path} />; }
    case 'file': { const x = refPath(parts); return <FileView key={`${x.ref}:${x.path}`} refName={x.ref} path={x.path} />; }
    case 'diff': return <DiffPage key={`${q('a')}..${q('b')}:${q('file')}`} a={q('a')} b={q('b')} file={q('file')} />;
    case 'runs': return <Runs />;
    case 'run': return <RunPage key={parts[0]} id={parts[0] ?? ''} stage={parts[1]} />;
    case 'dag': return <DagPage key={q('ref')} refName={q('ref')} />;
    case 'lineage': return <LineagePage key={`${q('ref')}:${q('path')}`} refName={q('ref')} path={q('path')} />;
    case 'metrics': return <MetricsPage key={`${q('refs')}:${q('n')}`} refs={q('refs')} n={q('n')} />;
    case 'experiments': return <ExperimentsPage />;
    default: return <Versions key={parts[0]} refName={parts[0]} />;
  }
}

function App() {
  const r = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const refresh = (): void => void get<Session>('session').then(setSession, () => setSession(null));
  useEffect(() => {
    refresh();
    return onUnauthorized(() => setSession((s) => (s ? { ...s, loggedIn: false } : s)));
  }, []);
  const section = r.page === 'tree' || r.page === 'file' ? 'versions' : r.page === 'run' ? 'runs' : r.page;
  return (
    <>
      <header>
        <a class="brand" href={href('versions')}>dv</a>
        <nav>{SECTIONS.map(([k, label]) => <a key={k} href={href(k)} class={section === k ? 'on' : ''}>{label}</a>)}</nav>
        <span class="who" data-testid="who">
          {session?.loggedIn ? (session.user ? <>key <code>{session.user}</code> · reads {session.read.join(' ')} · <a href="#" onClick={(e) => { e.preventDefault(); void post('logout', {}).then(refresh); }}>log out</a></> : 'local (read-only)') : ''}
        </span>
      </header>
      <main>{session === null ? <p class="muted">connecting…</p> : session.loggedIn ? <Page r={r} /> : <Login onDone={refresh} />}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
