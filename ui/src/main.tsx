import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, forgetToken, setToken, takeTokenFromUrl, token, whenUnauthorized } from "./api";
import { Link, match, navigate, useLocation } from "./router";
import { FlowsPage } from "./pages/Flows";
import { FlowPage } from "./pages/Flow";
import { ExecutionsPage } from "./pages/Executions";
import { ExecutionPage } from "./pages/Execution";
import "./styles.css";

interface Me {
  user: string;
  groups: string[];
  mode: string;
  namespace: string;
}

function SignIn(props: { onDone: () => void; refused: boolean }) {
  const [value, setValue] = useState("");
  return (
    <div class="signin">
      <h1>Overture</h1>
      <p>
        Sign in with your Kubernetes bearer token (a ServiceAccount token from <code>kubectl create token</code>,
        or your OIDC id token). The UI acts as you: what you may see and do is what Kubernetes RBAC gives you.
      </p>
      <p class="muted">With <code>overture ui</code> on your machine, open the URL it printed instead.</p>
      {props.refused ? <p class="error" data-testid="signin-refused">That token was refused.</p> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setToken(value);
          props.onDone();
        }}
      >
        <input type="password" placeholder="token" value={value} onInput={(e) => setValue(e.currentTarget.value)} data-testid="token-input" />
        <button type="submit" disabled={!value.trim()}>
          Sign in
        </button>
      </form>
    </div>
  );
}

function App() {
  const { path } = useLocation();
  const [me, setMe] = useState<Me | null>(null);
  const [refused, setRefused] = useState(false);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    whenUnauthorized(() => {
      forgetToken();
      setRefused(true);
      setMe(null);
    });
  }, []);
  useEffect(() => {
    if (!token()) return;
    api<Me>("/whoami")
      .then((who) => {
        setMe(who);
        setRefused(false);
      })
      .catch(() => undefined);
  }, [attempt]);

  if (!token() || !me) {
    if (token() && !refused) return <div class="loading">Signing in…</div>;
    return <SignIn refused={refused} onDone={() => setAttempt((a) => a + 1)} />;
  }
  if (path === "/" || path === "") {
    navigate(`/ns/${me.namespace}/flows`, true);
    return null;
  }
  const namespace = path.split("/")[2] || me.namespace;
  let page;
  let params: Record<string, string> | null;
  if ((params = match("/ns/:ns/flows", path))) page = <FlowsPage namespace={params.ns} />;
  else if ((params = match("/ns/:ns/new-flow", path))) page = <FlowPage namespace={params.ns} name={null} />;
  else if ((params = match("/ns/:ns/flows/:name", path))) page = <FlowPage namespace={params.ns} name={params.name} />;
  else if ((params = match("/ns/:ns/executions", path))) page = <ExecutionsPage namespace={params.ns} />;
  else if ((params = match("/ns/:ns/executions/:name", path))) page = <ExecutionPage namespace={params.ns} name={params.name} />;
  else page = <div class="page">Nothing here. <Link href={`/ns/${me.namespace}/flows`}>Flows</Link></div>;
  return (
    <div class="app">
      <header>
        <span class="brand">Overture</span>
        <Link href={`/ns/${namespace}/flows`} class={path.includes("/flows") || path.includes("/new-flow") ? "active" : ""}>
          Flows
        </Link>
        <Link href={`/ns/${namespace}/executions`} class={path.includes("/executions") ? "active" : ""}>
          Executions
        </Link>
        <span class="spacer" />
        <span class="muted" data-testid="whoami" title={me.groups.join(", ")}>
          {me.user} · {me.mode}
        </span>
        <button
          class="link"
          onClick={() => {
            forgetToken();
            setMe(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>{page}</main>
    </div>
  );
}

takeTokenFromUrl();
render(<App />, document.getElementById("app")!);
