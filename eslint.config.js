// ESLint: the recommended rules of ESLint, typescript-eslint and eslint-plugin-svelte, without
// type information (fast enough to run on every change). Formatting is Prettier's job.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

export default defineConfig(
  {
    ignores: [
      'dist/',
      'dist-cli/',
      'dist-lib/',
      'docs/api/',
      'test-results/',
      'playwright-report/',
      '.cache/',
      'test/fixtures/',
      'test/fuzz/regressions/',
      'examples/*/dist/',
      'examples/*/node_modules/',
    ],
  },
  js.configs.recommended,
  ts.configs.recommended,
  svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'], svelteConfig } },
  },
  {
    rules: {
      // `_name` marks a parameter an interface demands and this implementation does not use.
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Binary formats are full of NULs: patterns that match them are meant.
      'no-control-regex': 'off',
      // Found in code written before the linter; warnings until someone looks at each.
      'no-useless-assignment': 'warn',
      'svelte/no-unused-svelte-ignore': 'warn',
      'svelte/prefer-svelte-reactivity': 'warn',
    },
  },
);
