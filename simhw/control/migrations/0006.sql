-- schema version 6: indexes for finding a configuration by name, under its first name (configs.name) or a
-- later one (a name: tag), without scanning either table.
CREATE INDEX configs_name ON configs(name);
CREATE INDEX tags_tag ON tags(kind, tag);
