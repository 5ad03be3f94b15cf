// Lint: typescript-eslint's strict, type-checked rules over every TypeScript source, test and bench file.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bin/', 'scripts/', 'eslint.config.js', 'test/fixtures/**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      // node:test's describe/it return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }]
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // With noUncheckedIndexedAccess, `array[i]!` after a bounds check is the idiom of the hot paths.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // nact's `Ref<Msg>` is a member-less class typed only by its parameter, so every actor reference "resolves to {}".
      '@typescript-eslint/no-generated-empty-object-type': 'off',
      // As tsc's noUnusedParameters: a leading `_` marks a parameter a fixed signature requires (actor handlers, hooks).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }]
    }
  },
  {
    // The web dashboard runs in a browser (type-checked by web/tsconfig.json, DOM lib): browser globals, no Node ones.
    files: ['web/**/*.ts'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', confirm: 'readonly', addEventListener: 'readonly', performance: 'readonly' }
    }
  },
  {
    // Every message the broker sends to an actor is counted (actors/actor-meters.ts: mailbox depth per actor type).
    files: ['src/**/*.ts', 'actors/**/*.ts', 'network/**/*.ts'],
    ignores: ['actors/actor-meters.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'nact', importNames: ['dispatch', 'query', 'spawn'], message: 'use dispatch, query and spawnMetered of actors/actor-meters.js: they count mailbox depth and messages per actor type' }]
      }]
    }
  }
)
