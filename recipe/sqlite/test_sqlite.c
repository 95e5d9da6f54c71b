/* Links the packaged libsqlite3: checks its version and runs a query with FTS5 and JSON. */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

static int print_row(void *found, int columns, char **values, char **names) {
    (void)names;
    if (columns == 1 && values[0] != NULL && strcmp(values[0], "lobby") == 0) *(int *)found = 1;
    return 0;
}

int main(int argc, char **argv) {
    sqlite3 *db;
    char *error = NULL;
    int found = 0;
    if (argc < 2 || strcmp(sqlite3_libversion(), argv[1]) != 0) {
        fprintf(stderr, "SQLite %s, expected %s\n", sqlite3_libversion(), argc < 2 ? "?" : argv[1]);
        return 1;
    }
    if (sqlite3_open(":memory:", &db) != SQLITE_OK
        || sqlite3_exec(db,
                        "create virtual table photos using fts5(caption);"
                        "insert into photos values (json_extract('{\"c\": \"lobby\"}', '$.c'));"
                        "select caption from photos where photos match 'lobby';",
                        print_row, &found, &error) != SQLITE_OK
        || !found) {
        fprintf(stderr, "query failed: %s\n", error ? error : "no row");
        return 1;
    }
    sqlite3_close(db);
    printf("SQLite %s: FTS5 and JSON work\n", sqlite3_libversion());
    return 0;
}
