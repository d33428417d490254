// Names where a profiled function's code comes from (an npm package, Node's internals, a folder of this project), for
// the profile summaries: V8's .cpuprofile (summarize-cpu-profile.ts) and Linux perf's samples (summarize-perf-script.ts).

/** A function as a profile names it: its name and the URL of its script ('' for V8's own code). */
export interface CodeLocation {
  functionName: string;
  url: string;
}

/** The URL without the machine's path: from the package name under node_modules, or from src/, bench/ or test/. */
export function shortUrl(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length);
  const source = url.search(/\/(src|bench|test)\//);
  if (source !== -1) return url.slice(source + 1);
  return url.replace(/^file:\/\//, '');
}

/** Where a function's code comes from: an npm package, node's internals, the project, or V8 itself. */
export function packageOf(location: CodeLocation): string {
  const { url, functionName } = location;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    const scoped = rest[0]?.startsWith('@') === true;
    return (scoped ? rest.slice(0, 2) : rest.slice(0, 1)).join('/');
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`;
  const source = url.search(/\/(src|bench|test)\//);
  if (source !== -1)
    return url
      .slice(source + 1)
      .split('/')
      .slice(0, 3)
      .join('/');
  return url;
}

/** A function's name with where it is (`name path:line`, the line counted from 1); V8's own code by its name alone. */
export function functionKey(location: CodeLocation, line: number): string {
  const name = location.functionName === '' ? '(anonymous)' : location.functionName;
  if (location.url === '') return name;
  return `${name} ${shortUrl(location.url)}:${line}`;
}
