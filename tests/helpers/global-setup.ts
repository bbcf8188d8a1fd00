// vitest globalSetup: nothing to prepare yet; suites start their own servers.
export default async function () {}
