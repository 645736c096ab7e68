// Syntax highlighting per mime type. Each language is its own dynamic import, so esbuild puts it in its own
// chunk and a note loads only the grammar it shows. The mainstream languages use CodeMirror 6's Lezer
// grammars; the rest use the ported CodeMirror 5 modes of @codemirror/legacy-modes (Trilium 0.63 used
// CodeMirror 5 modes for all of them, so the colours match what its users know).
import { StreamLanguage } from '@codemirror/language';

const legacy = (load, name) => async () => {
  const mode = (await load())[name];
  return StreamLanguage.define(typeof mode === 'function' ? mode({}) : mode);
};

const javascript = (options) => async () => (await import('@codemirror/lang-javascript')).javascript(options);
const sql = (dialect) => async () => {
  const m = await import('@codemirror/lang-sql');
  return m.sql({ dialect: m[dialect] });
};
const clike = (name) => legacy(() => import('@codemirror/legacy-modes/mode/clike'), name);
const cssMode = (name) => legacy(() => import('@codemirror/legacy-modes/mode/css'), name);
const html = async () => (await import('@codemirror/lang-html')).html();
const markdown = async () => (await import('@codemirror/lang-markdown')).markdown();
const xml = async () => (await import('@codemirror/lang-xml')).xml();

/** Mime type (lowercase, without parameters unless they matter) → loader of a CodeMirror extension. */
const MODES = {
  'text/x-csrc': async () => (await import('@codemirror/lang-cpp')).cpp(),
  'text/x-c++src': async () => (await import('@codemirror/lang-cpp')).cpp(),
  'text/x-csharp': clike('csharp'),
  'text/x-java': async () => (await import('@codemirror/lang-java')).java(),
  'text/x-kotlin': clike('kotlin'),
  'text/x-scala': clike('scala'),
  'text/x-objectivec': clike('objectiveC'),
  'text/x-squirrel': clike('squirrel'),
  'application/dart': clike('dart'),
  'text/css': async () => (await import('@codemirror/lang-css')).css(),
  'text/x-scss': cssMode('sCSS'),
  'text/x-less': cssMode('less'),
  'text/x-gss': cssMode('gss'),
  'text/html': html,
  'application/x-ejs': html,
  'application/x-erb': html,
  'application/x-jsp': html,
  'application/x-aspx': html,
  'text/x-vue': html,
  'application/javascript': javascript(),
  'text/javascript': javascript(),
  'application/typescript': javascript({ typescript: true }),
  'text/jsx': javascript({ jsx: true }),
  'text/typescript-jsx': javascript({ jsx: true, typescript: true }),
  'application/json': async () => (await import('@codemirror/lang-json')).json(),
  'application/ld+json': async () => (await import('@codemirror/lang-json')).json(),
  'text/x-python': async () => (await import('@codemirror/lang-python')).python(),
  'text/x-cython': legacy(() => import('@codemirror/legacy-modes/mode/python'), 'cython'),
  'text/x-sql': sql('StandardSQL'),
  'text/x-mysql': sql('MySQL'),
  'text/x-mariadb': sql('MariaSQL'),
  'text/x-pgsql': sql('PostgreSQL'),
  'text/x-mssql': sql('MSSQL'),
  'text/x-sqlite': sql('SQLite'),
  'text/x-plsql': sql('PLSQL'),
  'text/x-cassandra': sql('Cassandra'),
  'text/x-esper': legacy(() => import('@codemirror/legacy-modes/mode/sql'), 'esper'),
  'text/x-markdown': markdown,
  'text/x-gfm': markdown,
  'text/xml': xml,
  'application/xml-dtd': legacy(() => import('@codemirror/legacy-modes/mode/dtd'), 'dtd'),
  'text/x-rustsrc': async () => (await import('@codemirror/lang-rust')).rust(),
  'text/x-php': async () => (await import('@codemirror/lang-php')).php(),
  'text/x-yaml': async () => (await import('@codemirror/lang-yaml')).yaml(),
  'text/x-sh': legacy(() => import('@codemirror/legacy-modes/mode/shell'), 'shell'),
  'application/x-powershell': legacy(() => import('@codemirror/legacy-modes/mode/powershell'), 'powerShell'),
  'text/x-go': legacy(() => import('@codemirror/legacy-modes/mode/go'), 'go'),
  'text/x-ruby': legacy(() => import('@codemirror/legacy-modes/mode/ruby'), 'ruby'),
  'text/x-perl': legacy(() => import('@codemirror/legacy-modes/mode/perl'), 'perl'),
  'text/x-lua': legacy(() => import('@codemirror/legacy-modes/mode/lua'), 'lua'),
  'text/x-haskell': legacy(() => import('@codemirror/legacy-modes/mode/haskell'), 'haskell'),
  'text/x-literate-haskell': legacy(() => import('@codemirror/legacy-modes/mode/haskell'), 'haskell'),
  'text/x-swift': legacy(() => import('@codemirror/legacy-modes/mode/swift'), 'swift'),
  'text/x-groovy': legacy(() => import('@codemirror/legacy-modes/mode/groovy'), 'groovy'),
  'message/http': legacy(() => import('@codemirror/legacy-modes/mode/http'), 'http'),
  'text/x-toml': legacy(() => import('@codemirror/legacy-modes/mode/toml'), 'toml'),
  'text/x-dockerfile': legacy(() => import('@codemirror/legacy-modes/mode/dockerfile'), 'dockerFile'),
  'text/x-diff': legacy(() => import('@codemirror/legacy-modes/mode/diff'), 'diff'),
  'text/x-nginx-conf': legacy(() => import('@codemirror/legacy-modes/mode/nginx'), 'nginx'),
  'text/x-properties': legacy(() => import('@codemirror/legacy-modes/mode/properties'), 'properties'),
  'text/x-rsrc': legacy(() => import('@codemirror/legacy-modes/mode/r'), 'r'),
  'text/x-julia': legacy(() => import('@codemirror/legacy-modes/mode/julia'), 'julia'),
  'text/x-erlang': legacy(() => import('@codemirror/legacy-modes/mode/erlang'), 'erlang'),
  'text/x-clojure': legacy(() => import('@codemirror/legacy-modes/mode/clojure'), 'clojure'),
  'text/x-clojurescript': legacy(() => import('@codemirror/legacy-modes/mode/clojure'), 'clojure'),
  'application/edn': legacy(() => import('@codemirror/legacy-modes/mode/clojure'), 'clojure'),
  'text/x-common-lisp': legacy(() => import('@codemirror/legacy-modes/mode/commonlisp'), 'commonLisp'),
  'text/x-scheme': legacy(() => import('@codemirror/legacy-modes/mode/scheme'), 'scheme'),
  'text/x-protobuf': legacy(() => import('@codemirror/legacy-modes/mode/protobuf'), 'protobuf'),
  'text/x-cmake': legacy(() => import('@codemirror/legacy-modes/mode/cmake'), 'cmake'),
  'text/x-fortran': legacy(() => import('@codemirror/legacy-modes/mode/fortran'), 'fortran'),
  'text/x-pascal': legacy(() => import('@codemirror/legacy-modes/mode/pascal'), 'pascal'),
  'text/x-octave': legacy(() => import('@codemirror/legacy-modes/mode/octave'), 'octave'),
  'text/x-vb': legacy(() => import('@codemirror/legacy-modes/mode/vb'), 'vb'),
  'text/vbscript': legacy(() => import('@codemirror/legacy-modes/mode/vbscript'), 'vbScript'),
  'text/x-tcl': legacy(() => import('@codemirror/legacy-modes/mode/tcl'), 'tcl'),
  'text/x-latex': legacy(() => import('@codemirror/legacy-modes/mode/stex'), 'stex'),
  'text/x-stex': legacy(() => import('@codemirror/legacy-modes/mode/stex'), 'stex'),
  'text/x-elm': legacy(() => import('@codemirror/legacy-modes/mode/elm'), 'elm'),
  'text/x-fsharp': legacy(() => import('@codemirror/legacy-modes/mode/mllike'), 'fSharp'),
  'text/x-ocaml': legacy(() => import('@codemirror/legacy-modes/mode/mllike'), 'oCaml'),
  'text/x-sml': legacy(() => import('@codemirror/legacy-modes/mode/mllike'), 'sml'),
  'text/x-d': legacy(() => import('@codemirror/legacy-modes/mode/d'), 'd'),
  'text/x-crystal': legacy(() => import('@codemirror/legacy-modes/mode/crystal'), 'crystal'),
  'text/coffeescript': legacy(() => import('@codemirror/legacy-modes/mode/coffeescript'), 'coffeeScript'),
  'text/x-livescript': legacy(() => import('@codemirror/legacy-modes/mode/livescript'), 'liveScript'),
  'text/x-sass': legacy(() => import('@codemirror/legacy-modes/mode/sass'), 'sass'),
  'text/x-styl': legacy(() => import('@codemirror/legacy-modes/mode/stylus'), 'stylus'),
  'text/x-pug': legacy(() => import('@codemirror/legacy-modes/mode/pug'), 'pug'),
  'text/jinja2': legacy(() => import('@codemirror/legacy-modes/mode/jinja2'), 'jinja2'),
  'text/x-verilog': legacy(() => import('@codemirror/legacy-modes/mode/verilog'), 'verilog'),
  'text/x-systemverilog': legacy(() => import('@codemirror/legacy-modes/mode/verilog'), 'verilog'),
  'text/x-vhdl': legacy(() => import('@codemirror/legacy-modes/mode/vhdl'), 'vhdl'),
  'text/x-cobol': legacy(() => import('@codemirror/legacy-modes/mode/cobol'), 'cobol'),
  'text/x-stsrc': legacy(() => import('@codemirror/legacy-modes/mode/smalltalk'), 'smalltalk'),
  'text/turtle': legacy(() => import('@codemirror/legacy-modes/mode/turtle'), 'turtle'),
  'application/sparql-query': legacy(() => import('@codemirror/legacy-modes/mode/sparql'), 'sparql'),
  'text/x-haxe': legacy(() => import('@codemirror/legacy-modes/mode/haxe'), 'haxe'),
  'text/x-hxml': legacy(() => import('@codemirror/legacy-modes/mode/haxe'), 'hxml'),
  'text/x-puppet': legacy(() => import('@codemirror/legacy-modes/mode/puppet'), 'puppet'),
  'text/x-asterisk': legacy(() => import('@codemirror/legacy-modes/mode/asterisk'), 'asterisk'),
  'text/x-brainfuck': legacy(() => import('@codemirror/legacy-modes/mode/brainfuck'), 'brainfuck'),
  'text/x-ebnf': legacy(() => import('@codemirror/legacy-modes/mode/ebnf'), 'ebnf'),
  'text/x-factor': legacy(() => import('@codemirror/legacy-modes/mode/factor'), 'factor'),
  'text/x-forth': legacy(() => import('@codemirror/legacy-modes/mode/forth'), 'forth'),
  'text/x-gas': legacy(() => import('@codemirror/legacy-modes/mode/gas'), 'gas'),
  'text/x-feature': legacy(() => import('@codemirror/legacy-modes/mode/gherkin'), 'gherkin'),
  'text/x-idl': legacy(() => import('@codemirror/legacy-modes/mode/idl'), 'idl'),
  'text/x-mathematica': legacy(() => import('@codemirror/legacy-modes/mode/mathematica'), 'mathematica'),
  'text/x-modelica': legacy(() => import('@codemirror/legacy-modes/mode/modelica'), 'modelica'),
  'text/x-mumps': legacy(() => import('@codemirror/legacy-modes/mode/mumps'), 'mumps'),
  'text/x-nsis': legacy(() => import('@codemirror/legacy-modes/mode/nsis'), 'nsis'),
  'application/n-triples': legacy(() => import('@codemirror/legacy-modes/mode/ntriples'), 'ntriples'),
  'text/x-oz': legacy(() => import('@codemirror/legacy-modes/mode/oz'), 'oz'),
  'text/x-pig': legacy(() => import('@codemirror/legacy-modes/mode/pig'), 'pig'),
  'text/x-q': legacy(() => import('@codemirror/legacy-modes/mode/q'), 'q'),
  'text/x-rpm-spec': legacy(() => import('@codemirror/legacy-modes/mode/rpm'), 'rpmSpec'),
  'text/x-rpm-changes': legacy(() => import('@codemirror/legacy-modes/mode/rpm'), 'rpmChanges'),
  'text/x-sas': legacy(() => import('@codemirror/legacy-modes/mode/sas'), 'sas'),
  'application/sieve': legacy(() => import('@codemirror/legacy-modes/mode/sieve'), 'sieve'),
  'text/x-solr': legacy(() => import('@codemirror/legacy-modes/mode/solr'), 'solr'),
  'text/x-spreadsheet': legacy(() => import('@codemirror/legacy-modes/mode/spreadsheet'), 'spreadsheet'),
  'text/x-textile': legacy(() => import('@codemirror/legacy-modes/mode/textile'), 'textile'),
  'text/x-tiddlywiki': legacy(() => import('@codemirror/legacy-modes/mode/tiddlywiki'), 'tiddlyWiki'),
  'text/tiki': legacy(() => import('@codemirror/legacy-modes/mode/tiki'), 'tiki'),
  'text/troff': legacy(() => import('@codemirror/legacy-modes/mode/troff'), 'troff'),
  'text/x-ttcn': legacy(() => import('@codemirror/legacy-modes/mode/ttcn'), 'ttcn'),
  'text/x-ttcn-cfg': legacy(() => import('@codemirror/legacy-modes/mode/ttcn-cfg'), 'ttcnCfg'),
  'text/x-ttcn-asn': legacy(() => import('@codemirror/legacy-modes/mode/asn1'), 'asn1'),
  'text/velocity': legacy(() => import('@codemirror/legacy-modes/mode/velocity'), 'velocity'),
  'text/x-webidl': legacy(() => import('@codemirror/legacy-modes/mode/webidl'), 'webIDL'),
  'application/xquery': legacy(() => import('@codemirror/legacy-modes/mode/xquery'), 'xQuery'),
  'text/x-yacas': legacy(() => import('@codemirror/legacy-modes/mode/yacas'), 'yacas'),
  'text/x-z80': legacy(() => import('@codemirror/legacy-modes/mode/z80'), 'z80'),
  'text/apl': legacy(() => import('@codemirror/legacy-modes/mode/apl'), 'apl'),
  'application/x-cypher-query': legacy(() => import('@codemirror/legacy-modes/mode/cypher'), 'cypher'),
  'text/x-dylan': legacy(() => import('@codemirror/legacy-modes/mode/dylan'), 'dylan'),
  'text/x-ecl': legacy(() => import('@codemirror/legacy-modes/mode/ecl'), 'ecl'),
  'text/x-eiffel': legacy(() => import('@codemirror/legacy-modes/mode/eiffel'), 'eiffel'),
  'text/x-fcl': legacy(() => import('@codemirror/legacy-modes/mode/fcl'), 'fcl'),
  'text/x-mscgen': legacy(() => import('@codemirror/legacy-modes/mode/mscgen'), 'mscgen'),
  'text/x-msgenny': legacy(() => import('@codemirror/legacy-modes/mode/mscgen'), 'msgenny'),
  'text/x-xu': legacy(() => import('@codemirror/legacy-modes/mode/mscgen'), 'xu'),
  'text/mirc': legacy(() => import('@codemirror/legacy-modes/mode/mirc'), 'mirc'),
  'application/mbox': legacy(() => import('@codemirror/legacy-modes/mode/mbox'), 'mbox'),
  'application/pgp': legacy(() => import('@codemirror/legacy-modes/mode/asciiarmor'), 'asciiArmor'),
  'null': legacy(() => import('@codemirror/legacy-modes/mode/pegjs'), 'pegjs'),
};

/**
 * The highlighting extension for a note's mime type, or null for plain text and mimes without a grammar.
 * `application/javascript;env=frontend` and `text/x-sqlite;schema=trilium` fall back to their base type.
 */
export async function languageFor(mime) {
  const key = (mime || '').trim().toLowerCase();
  const load = MODES[key] ?? MODES[key.split(';')[0].trim()];
  return load ? load() : null;
}

/** Every mime type that has a grammar (tests check each one loads). */
export const highlightedMimes = Object.keys(MODES);
