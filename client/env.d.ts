// Ambient types for the client: Vite's `?url` imports and `import.meta.env`, Svelte's runes and `.svelte` modules.
/// <reference types="vite/client" />
/// <reference types="svelte" />
