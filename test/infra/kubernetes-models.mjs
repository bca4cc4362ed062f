/* global process */
// Validates Kubernetes objects against the API schema of the `kubernetes-models` packages (the
// prometheus-operator's too). An ES module, which jest's CommonJS runtime cannot load: the infra
// suite runs it as a child process. Reads a JSON array of objects on stdin and prints a JSON array
// of problems, `<kind>/<name>: <where> <what>`, empty when every object is valid.
import { readFileSync } from 'node:fs';

/** The module that holds an apiVersion's models, by API group. */
function modulePath(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

const objects = JSON.parse(readFileSync(0, 'utf8'));
const problems = [];
for (const object of objects) {
  const where = `${object.kind}/${object.metadata?.name}`;
  let Model;
  try {
    Model = (await import(modulePath(object.apiVersion, object.kind)))[object.kind];
  } catch {
    problems.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
    continue;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`${where}: ${error.message}`);
  }
}
process.stdout.write(JSON.stringify(problems));
