// A real OpenID provider for the console's sign-in tests: oidc-provider
// with one confidential client and two test people. The interaction (login
// and consent) finishes by itself for the person named by `login_hint`
// (`admin` by default), so a test can drive the whole authorization-code
// flow over plain HTTP. With LOGIN_FORM=1 the login asks for the person's
// name on a page instead (a form a real browser fills in). Prints
// `listening <port>` once it serves.
//
// Environment: REDIRECT_URI (the console's /console/callback),
// POST_LOGOUT_URI (its /console/signed-out), CLIENT_SECRET, LOGIN_FORM.
import http from 'node:http';
import Provider from 'oidc-provider';

const people = {
  admin: { sub: 'user-admin', email: 'ada.admin@example.com', groups: ['roster-acme-admins'] },
  viewer: { sub: 'user-viewer', email: 'vic.viewer@example.com', groups: ['roster-acme-viewers'] },
  operator: { sub: 'user-operator', email: 'ops@example.com', groups: ['roster-operators'] },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'roster-console',
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      post_logout_redirect_uris: [process.env.POST_LOGOUT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    // The groups in the ID token itself, as Cognito puts `cognito:groups`.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, id) => {
      const person = Object.values(people).find((p) => p.sub === id);
      return person && { accountId: id, claims: () => person };
    },
    cookies: { keys: ['roster-test-cookie-key'] },
  });
  provider.proxy = false;
  const oidc = provider.callback();
  server.on('request', async (req, res) => {
    const m = req.url.match(/^\/interaction\/([^/?]+)/);
    if (!m) return oidc(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      let name = details.params.login_hint || 'admin';
      if (process.env.LOGIN_FORM === '1' && details.prompt.name === 'login') {
        if (req.method === 'GET') {
          res.setHeader('content-type', 'text/html; charset=utf-8');
          return res.end(`<!doctype html><title>Test IdP sign-in</title><h1>Sign in to the test identity provider</h1>
<form method="post" action="/interaction/${m[1]}"><label for="username">User name</label>
<input id="username" name="username" autocomplete="username"><button type="submit">Sign in</button></form>`);
        }
        const body = await new Promise((ok) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => ok(b)); });
        name = new URLSearchParams(body).get('username') || '';
      }
      const person = people[name];
      if (!person) { res.statusCode = 400; return res.end(`no test person ${name}`); }
      let result;
      if (details.prompt.name === 'login') {
        result = { login: { accountId: person.sub } };
      } else {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        result = { consent: { grantId: await grant.save() } };
      }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  console.log(`listening ${port}`);
});
