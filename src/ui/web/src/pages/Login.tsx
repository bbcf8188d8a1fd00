// Log in with a dv serve access key (dv keys create --read PATTERN): the server checks
// the secret and sets an HttpOnly session cookie; the page never stores the secret.
import { useState } from 'preact/hooks';
import { post } from '../api';

export function Login(p: { onDone: () => void }) {
  const [id, setId] = useState('');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (e: Event): void => {
    e.preventDefault();
    post('login', { accessKeyId: id.trim(), secretAccessKey: secret.trim() }).then(() => { setSecret(''); p.onDone(); }, (x: Error) => setError(x.message));
  };
  return (
    <form class="login" onSubmit={submit} data-testid="login">
      <h2>Log in</h2>
      <p class="muted">with an access key of this repository (<code>dv keys create --read '*'</code>)</p>
      <label>access key id<input name="id" value={id} autocomplete="username" onInput={(e) => setId((e.target as HTMLInputElement).value)} /></label>
      <label>secret access key<input name="secret" type="password" value={secret} autocomplete="current-password" onInput={(e) => setSecret((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">log in</button>
      {error ? <p class="error" role="alert">{error}</p> : null}
    </form>
  );
}
