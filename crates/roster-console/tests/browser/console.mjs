// Drives Debian's Chromium through the console as a person would, for
// tests/browser.rs: sign in at a real OpenID provider (typing a user name
// on its page), open the overview, review and approve a halted snapshot,
// redrive a dead letter, find a person and open their page, preview and
// save a mapping profile on a sample file, upload a feed (with the progress
// script), and look at the keys and the audit log. Every element is found by its role and
// accessible name (a label, a heading, a button's text), as a screen reader
// would. A screenshot of each page goes to SHOTS. Any browser console error
// (a CSP violation, a failed asset) fails the run.
//
// Environment: BASE (the console's origin), SHOTS (a folder), CHROMIUM
// (the browser), FEED (the halted snapshot's id), PERSON (an external id to
// search for). Prints one JSON line; exits 1 on the first failure.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { BASE, SHOTS, CHROMIUM, FEED, PERSON } = process.env;
mkdirSync(SHOTS, { recursive: true });
const shots = [];
const problems = [];

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// The flags these machines need: no sandbox as root, and nothing that
// reaches for the network on its own.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
// The console's own errors only: the test provider's page has no favicon.
page.on('console', (m) => {
  if (m.type() === 'error' && page.url().startsWith(BASE)) problems.push(`console: ${m.text()}`);
});
page.on('response', (r) => {
  if (r.status() >= 400 && r.url().startsWith(BASE)) problems.push(`${r.status()} ${r.url()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

async function shot(name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

async function heading(text) {
  await page.getByRole('heading', { level: 1, name: text }).waitFor({ timeout: 10000 });
}

try {
  // Sign in: the console sends the browser to the provider, whose page asks
  // for a user name.
  await page.goto(`${BASE}/console/`);
  await page.getByLabel('User name').fill('admin');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/console/`);
  await heading('Overview');
  check(await page.getByText('ada.admin@example.com').isVisible(), 'the signed-in person is shown');
  await shot('01-overview');

  // The halted snapshot: its leavers, then Approve with the confirmation.
  await page.getByRole('link', { name: 'Review leavers' }).first().click();
  await heading(`Review snapshot ${FEED}`);
  const leavers = await page.locator('table tbody tr').count();
  check(leavers === 10, `the review lists the 10 people it would deactivate, not ${leavers}`);
  await shot('02-snapshot-review');
  await page.getByLabel('I reviewed the list: deactivate these people').check();
  await page.getByRole('button', { name: 'Approve' }).click();
  await heading(new RegExp(`^Feed ${FEED}`));
  check(!(await page.locator('h1 .status-halted').count()), 'the feed is no longer halted');
  await shot('03-snapshot-approved');

  // Dead letters: the list, then redrive the one there is.
  await page.getByRole('navigation', { name: 'acme' }).getByRole('link', { name: 'Dead letters' }).click();
  await heading('Dead letters of acme');
  check(await page.getByText('the message cannot be decoded').isVisible(), 'why it failed');
  await shot('04-dead-letters');
  await page.getByRole('button', { name: /^Redrive dl_/ }).click();
  await heading('Dead letters of acme');
  check(await page.getByText('None: every record was applied.').isVisible(), 'the dead letter left the list');

  // People: search by name, open the person.
  await page.getByRole('navigation', { name: 'acme' }).getByRole('link', { name: 'People' }).click();
  await heading('People of acme');
  await page.getByLabel('Search', { exact: true }).fill(PERSON);
  await page.getByLabel('Search in').selectOption('name');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'A1' }).click();
  await page.getByRole('heading', { name: 'History' }).waitFor();
  check(await page.getByRole('heading', { name: /Version 2/ }).isVisible(), 'the second version');
  await shot('05-person');

  // A mapping profile for a new source, previewed on a sample, then saved.
  const tenantNav = () => page.getByRole('navigation', { name: 'acme' });
  await tenantNav().getByRole('link', { name: 'Sources' }).click();
  await heading('Sources of acme');
  await page.getByLabel('Open a source by name').fill('workday');
  await page.getByRole('button', { name: 'Open' }).click();
  await heading(/^Source workday/);
  await page.getByLabel('Profile (JSON)').fill(JSON.stringify({ fields: {
    externalId: { column: 'Employee ID' },
    'name.givenName': { column: 'First' },
    hireDate: { column: 'Start', dateFormat: 'MM/DD/YYYY' },
  } }, null, 2));
  await page.getByLabel('Sample CSV file').setInputFiles({
    name: 'sample.csv', mimeType: 'text/csv',
    buffer: Buffer.from('Employee ID,First,Start\nW1,Wen,03/15/2024\nW2,Wim,2024-15-03\n'),
  });
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('heading', { name: 'Preview', exact: true }).waitFor();
  check(await page.getByRole('cell', { name: 'W1', exact: true }).isVisible(), 'the mapped record W1');
  check(await page.getByRole('cell', { name: 'row 3' }).isVisible(), "row 3's error");
  await shot('06-mapping-preview');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await heading(/^Source workday/);
  check(!(await page.getByText('(defaults)').count()), 'the source has settings now');

  // An upload through the page's progress bar (upload.js), to the new feed.
  await tenantNav().getByRole('link', { name: 'Upload' }).click();
  await heading('Upload a file to acme');
  await page.getByLabel('Source').fill('workday');
  await page.getByLabel('File').setInputFiles({
    name: 'roster.csv', mimeType: 'text/csv',
    buffer: Buffer.from('Employee ID,First,Start\nW1,Wen,03/15/2024\nW3,Wes,04/01/2024\n'),
  });
  await shot('07-upload');
  await page.getByRole('button', { name: 'Upload' }).click();
  await heading(/^Feed feed_/);
  check(await page.getByText('workday').first().isVisible(), 'a feed of workday');

  // Keys and the audit log, where the approval and the redrive now show.
  await tenantNav().getByRole('link', { name: 'API keys' }).click();
  await heading('API keys of acme');
  await shot('08-keys');
  await tenantNav().getByRole('link', { name: 'Audit log' }).click();
  await heading('Audit log of acme');
  check(await page.getByRole('link', { name: 'feed.approved' }).first().isVisible(), 'the approval is audited');
  check(await page.getByRole('link', { name: 'dlq.redriven' }).first().isVisible(), 'the redrive is audited');
  check(await page.getByRole('link', { name: 'feed.uploaded' }).first().isVisible(), 'the upload is audited');
  await shot('09-audit');

  // The overview again: the upload is in the last hour's figures and chart.
  await page.getByRole('link', { name: 'Overview' }).click();
  await heading('Overview');
  check(await page.locator('svg rect.bar-accepted[height]:not([height="0"])').count() > 0, 'a bar for the last hour');
  await shot('10-overview-after-upload');

  check(problems.length === 0, problems.join('; '));
  console.log(JSON.stringify({ ok: true, shots }));
  await browser.close();
} catch (e) {
  await shot('failure').catch(() => {});
  console.log(JSON.stringify({ ok: false, error: String(e.message || e), at: page.url(), problems, shots }));
  await browser.close();
  process.exit(1);
}
