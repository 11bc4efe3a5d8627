// Registers Flowise's owner account unless it logs in already. Reads {email, name, password, probe}
// as JSON on stdin (never on the command line); prints "present", "absent" (probe) or "created".
const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk)).on('end', async () => {
  const account = JSON.parse(Buffer.concat(chunks).toString());
  const base = `http://127.0.0.1:${process.env.PORT || 3000}/api/v1`;
  const post = (path, body) => fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-from': 'internal' },
    body: JSON.stringify(body),
  });
  const login = await post('/auth/login', { email: account.email, password: account.password });
  if (login.ok) return console.log('present');
  if (account.probe) return console.log('absent');
  const register = await post('/account/register', {
    user: { name: account.name, email: account.email, credential: account.password },
  });
  if (register.ok) return console.log('created');
  console.error(`login answered ${login.status}; registering answered ${register.status}: ${await register.text()}`);
  process.exit(1);
});
