// Lint and format in one tool: typescript-eslint for correctness, @stylistic for the layout of the code.
// `npm run lint` checks both; `npm run format` is `eslint --fix`. The stylistic rules describe the style the
// tree already has (2 spaces, single quotes, semicolons, trailing commas on multiline, long lines allowed), so
// formatting never rewrites code that is otherwise untouched (Prettier would rewrap thousands of lines).
// eslint-suppressions.json holds the findings the tree had when the linter came in (ESLint's bulk
// suppressions: counts per file and rule); `npm run format` fixes them and prunes the file, which may then go.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['**/dist/', '**/node_modules/', 'config/out/', 'coverage/']),
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
  },

  // Type-aware rules, only those that catch real bugs cheaply (a promise nobody awaits or catches).
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's test() and describe() return promises that the runner itself awaits.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  // The console's page code runs in the browser and has its own tsconfig (DOM lib, no Node types).
  {
    files: ['src/console/**/*.ts'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { projectService: false, project: './tsconfig.console.json', tsconfigRootDir: import.meta.dirname },
    },
  },

  // Correctness rules, tuned to the house.
  {
    rules: {
      // `const { a: _a, ...rest } = x` drops a key on purpose; a leading underscore marks a name as unused.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Type-only imports say so (`import type`, `type X` inline), as the tree already does; `import('x').T` in a type is fine.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // A `let` read by a closure before its one assignment is late-bound on purpose (runtime/assembly.ts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'object-shorthand': ['error', 'always'],
    },
  },
  {
    // Tests and benchmarks may poke at internals; `any` at a module border matters in src/ only.
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },

  // The formatter: the layout the code already has.
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/indent': ['error', 2, { SwitchCase: 1 }],
      // Backticks are fine without interpolation (SQL and YAML in tests use them to hold single quotes).
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/eol-last': ['error', 'always'],
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxEOF: 0, maxBOF: 0 }],
      '@stylistic/no-tabs': 'error',
      '@stylistic/linebreak-style': ['error', 'unix'],
      '@stylistic/object-curly-spacing': ['error', 'always'],
      '@stylistic/array-bracket-spacing': ['error', 'never'],
      '@stylistic/comma-spacing': 'error',
      '@stylistic/comma-style': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/space-unary-ops': 'error',
      '@stylistic/arrow-spacing': 'error',
      '@stylistic/arrow-parens': ['error', 'always'],
      // No brace-style: `if (a) { x(); }` then `else { y(); }` on the next line is used for compact branches.
      '@stylistic/block-spacing': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/semi-spacing': 'error',
      '@stylistic/space-in-parens': 'error',
      '@stylistic/computed-property-spacing': 'error',
      '@stylistic/template-curly-spacing': 'error',
      '@stylistic/no-multi-spaces': ['error', { ignoreEOLComments: true }],
      '@stylistic/no-whitespace-before-property': 'error',
      '@stylistic/rest-spread-spacing': 'error',
      '@stylistic/member-delimiter-style': 'error',
      '@stylistic/type-annotation-spacing': 'error',
      '@stylistic/type-generic-spacing': 'error',
      '@stylistic/function-call-spacing': 'error',
      '@stylistic/space-before-function-paren': ['error', { anonymous: 'always', named: 'never', asyncArrow: 'always' }],
      '@stylistic/spaced-comment': ['error', 'always', { markers: ['/'] }],
      '@stylistic/new-parens': 'error',
      '@stylistic/no-extra-semi': 'error',
      '@stylistic/quote-props': ['error', 'as-needed'],
      '@stylistic/dot-location': ['error', 'property'],
    },
  },
);
