-- docker-compose.yml: the registry's own database, as `npm run infra:up` creates it on the local server.
CREATE DATABASE ktask_registry;
